//! The service starters start real servers that answer, and stop them.

use framechain_test_support::services::{Postgres, RedisServer};

#[test]
fn redis_answers_and_comes_back_after_a_stop() {
    let mut redis = RedisServer::start();
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    redis.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", redis.port())).is_err());
    redis.start_again();
    assert!(std::net::TcpStream::connect(("127.0.0.1", redis.port())).is_ok());
}

#[test]
fn postgres_takes_sql_and_comes_back_after_a_stop() {
    let mut postgres = Postgres::start();
    assert_eq!(postgres.psql("SELECT 40 + 2").trim(), "42");
    postgres.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)");
    postgres.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", postgres.port())).is_err());
    postgres.start_again();
    assert_eq!(postgres.psql("SELECT n FROM kept").trim(), "7");
}
