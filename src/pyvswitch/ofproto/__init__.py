"""OpenFlow switch semantics: flow tables and their classifier, translation, NORMAL."""
