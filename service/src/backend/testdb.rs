//! A fresh PostgreSQL database per test, on the server `STATECAST_TEST_PG_URL` names
//! (`scripts/test.sh` starts one with `scripts/pg-test.sh` when it is not set).
use postgres::NoTls;

/// The URL of a new, empty database on the test server.
///
/// # Panics
/// When `STATECAST_TEST_PG_URL` is unset or the server cannot be reached: these tests need
/// PostgreSQL and must not pass without it.
pub fn fresh_database(tag: &str) -> String {
    let admin = std::env::var("STATECAST_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("STATECAST_TEST_PG_URL is not set: run the tests through scripts/test.sh, or start PostgreSQL with `eval \"$(scripts/pg-test.sh start)\"`")
    });
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let name = format!("t_{tag}_{}_{nanos}", std::process::id()).to_lowercase();
    let mut client = postgres::Client::connect(&admin, NoTls)
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at STATECAST_TEST_PG_URL: {e}"));
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    let mut url = url::Url::parse(&admin).expect("STATECAST_TEST_PG_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}
