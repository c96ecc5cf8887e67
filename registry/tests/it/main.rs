//! Integration tests of `cp-registry`, one binary.

/// Every registry CSV validation error, asserting the whole message the user sees.
mod csv_errors;
/// VOLTTRON device configs: the spec's sample, comments, every config error.
mod device_config;
/// The files shipped in `registry/configs/` load clean.
mod examples;
/// Fleet files and fleet directories: accounts, station sets, cross-file errors.
mod fleet;
/// Property tests: CSV write/parse round trip; arbitrary input never panics a parser.
mod properties;
/// Point values extracted from API records, and the scrape-all message.
mod snapshot;
