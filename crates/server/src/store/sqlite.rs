//! SQLite implementation of [`super::Store`] (in progress).
