//! Entering and leaving ring 3 (filled in by the processes issue).
