//! Shared helpers for the end-to-end tests: locating the built binaries, the shipped files
//! and the data sets, and scoring the rules against labelled recordings.

pub mod paths;
pub mod skab;
