//! One Redis connection a task keeps: made when first needed, dropped
//! after an error and made again at the next use, with short timeouts so
//! that a Redis that is away costs a task a second, not its loop.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, FromRedisValue};

/// How long connecting and each command may take.
const TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct RedisLink {
    client: Client,
    connection: Option<MultiplexedConnection>,
    /// Whether the last command failed (to log a change only once).
    failing: bool,
    what: &'static str,
}

impl RedisLink {
    /// A link to `url` (checked by the configuration) for `what` (the
    /// task's name in log lines).
    pub(crate) fn new(url: &str, what: &'static str) -> Result<RedisLink, String> {
        let client = Client::open(url).map_err(|error| format!("--redis: {error}"))?;
        Ok(RedisLink {
            client,
            connection: None,
            failing: false,
            what,
        })
    }

    /// Runs `command`; `None` (logged once per outage) when Redis cannot
    /// be reached or answers with an error.
    pub(crate) async fn query<T: FromRedisValue>(&mut self, command: &Cmd) -> Option<T> {
        if self.connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(TIMEOUT))
                .set_response_timeout(Some(TIMEOUT));
            match self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
            {
                Ok(connection) => self.connection = Some(connection),
                Err(error) => {
                    self.failed(&error);
                    return None;
                }
            }
        }
        let connection = self.connection.as_mut()?;
        match command.query_async::<T>(connection).await {
            Ok(value) => {
                if self.failing {
                    log::info!("{}: Redis is back", self.what);
                    self.failing = false;
                }
                Some(value)
            }
            Err(error) => {
                self.connection = None;
                self.failed(&error);
                None
            }
        }
    }

    fn failed(&mut self, error: &redis::RedisError) {
        if !self.failing {
            log::warn!(
                "{}: Redis cannot be reached ({}); trying again every second",
                self.what,
                framechain::text::untrusted(&error.to_string(), 200)
            );
            self.failing = true;
        }
    }
}
