//! The embedded SQLite file holds reporters' sealed identities and every message: it is created
//! readable and writable by its owner only, and so are the journal files SQLite puts beside it.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;

use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::Db;

#[test]
fn a_new_sqlite_file_and_its_journal_are_the_owners_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("nazer.db");
    let db = Db::open(&DatabaseSettings { url: Some(path.display().to_string()), ..Default::default() }).unwrap();
    db.migrate().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(path.parent().unwrap()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.file_name().to_string_lossy());
        checked += 1;
    }
    assert!(checked >= 1, "the database file exists");
}
