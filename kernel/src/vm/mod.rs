//! vm (later issues).
