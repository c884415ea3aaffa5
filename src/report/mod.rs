//! Reporting: what lab prints about a lab or a verification, for people (tables,
//! summaries) and machines (JSON, JUnit). Formats results; decides nothing.

pub mod junit;
pub mod summary;
pub mod table;
