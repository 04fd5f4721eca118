//! One error type for the connectors: every message names the connector,
//! the component and what it was working on (a URL without its password,
//! a stream key, a table, a configuration key).

/// Why a connector could not do its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// A configuration value is missing, doubled or malformed.
    #[error("{connector} `{component}`: configuration key `{key}`: {message}")]
    Config {
        /// The connector (`redis-stream-spout`, `postgres-bolt`, ...).
        connector: &'static str,
        /// The component id.
        component: String,
        /// The configuration key at fault.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// The server could not be reached or refused the connection
    /// (unreachable, wrong credentials, unknown database).
    #[error("{connector} `{component}`: cannot connect to {target}: {message}")]
    Connect {
        /// The connector.
        connector: &'static str,
        /// The component id.
        component: String,
        /// The server's URL, without its password.
        target: String,
        /// The client's or server's reason.
        message: String,
    },
    /// A command failed on an open connection (an error reply, a lost
    /// connection, a timeout).
    #[error("{connector} `{component}`: {what} on {target}: {message}")]
    Command {
        /// The connector.
        connector: &'static str,
        /// The component id.
        component: String,
        /// The server's URL, without its password.
        target: String,
        /// The command and its key (`XREADGROUP stream events`).
        what: String,
        /// The client's or server's reason.
        message: String,
    },
    /// A stream entry's fields are not the declared ones.
    #[error("{0}")]
    Fields(Box<FieldMismatch>),
    /// A reply had a shape the protocol does not allow for this command
    /// (bytes from a server are not trusted).
    #[error("{connector} `{component}`: {what} on {target}: unexpected reply: {message}")]
    Reply {
        /// The connector.
        connector: &'static str,
        /// The component id.
        component: String,
        /// The server's URL, without its password.
        target: String,
        /// The command and its key.
        what: String,
        /// What was wrong with the reply.
        message: String,
    },
    /// A tuple's field could not be written where it was mapped.
    #[error("{connector} `{component}`: field `{field}` for {target_key}: {message}")]
    Value {
        /// The connector.
        connector: &'static str,
        /// The component id.
        component: String,
        /// The input field.
        field: String,
        /// The column, key or command it was going to.
        target_key: String,
        /// What is wrong.
        message: String,
    },
}

/// A stream entry whose fields are not the declared ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{connector} `{component}`: stream `{key}` entry {id}: fields {got:?} do not match the \
     declared fields {expected:?}"
)]
pub struct FieldMismatch {
    /// The connector.
    pub connector: &'static str,
    /// The component id.
    pub component: String,
    /// The stream's key.
    pub key: String,
    /// The entry's id.
    pub id: String,
    /// The declared fields.
    pub expected: Vec<String>,
    /// The entry's fields.
    pub got: Vec<String>,
}
