//! Pieces of the `authdomain` command line that are not argument parsing.

pub mod progress;
