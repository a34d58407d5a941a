// `sqlx::migrate!` embeds ../../migrations at compile time; a new migration
// file must rebuild this crate (sqlx's recommended build script).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
