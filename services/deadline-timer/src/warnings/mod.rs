//! Warnings (تذکر): the register of those issued by the ladder and by quality reviews, and
//! their acknowledgement.

pub(crate) mod quality;
pub mod store;
