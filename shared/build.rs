//! The migrations are embedded at compile time (`embed_migrations!`): a new or changed
//! migration must rebuild this crate, or a binary would start with the old schema.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
