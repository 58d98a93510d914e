//! Sockets on the loop's reactor, and asyncio's streams API.
//!
//! Low level: [`TcpListener`], [`TcpStream`], [`UdpSocket`],
//! [`UnixListener`], [`UnixStream`], [`UnixDatagram`]. Their reads and writes
//! take `&self`, wait on the loop's epoll reactor, and never block the loop;
//! stream types implement `futures_io::AsyncRead`/`AsyncWrite`, and with the
//! `tokio-io` feature tokio's `AsyncRead`/`AsyncWrite` too.
//!
//! High level, as asyncio's streams: [`open_connection`] gives a
//! ([`StreamReader`], [`StreamWriter`]) pair; [`start_server`] runs a
//! handler per connection and returns a [`Server`].
//!
//! ```
//! use asyncio::net::{open_connection, start_server, StreamReader, StreamWriter};
//!
//! async fn handle_echo(mut reader: StreamReader, writer: StreamWriter) {
//!     let line = reader.readline().await.unwrap();
//!     writer.write(&line);
//!     writer.drain().await.unwrap();
//!     writer.close();
//! }
//!
//! asyncio::run(async {
//!     let server = start_server(handle_echo, "127.0.0.1:0").await.unwrap();
//!     let addr = server.local_addrs()[0];
//!     let (mut reader, writer) = open_connection(addr).await.unwrap();
//!     writer.write(b"Hello World!\n");
//!     assert_eq!(reader.readline().await.unwrap(), b"Hello World!\n");
//!     writer.close();
//!     server.close();
//!     server.wait_closed().await;
//! });
//! ```

mod addr;
mod server;
mod socket;
pub(crate) mod streams;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tokio-io")]
mod tokio_io;
mod udp;
mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use server::{start_server, start_unix_server, Server};
pub use streams::{open_connection, open_unix_connection, ReadError, StreamReader, StreamWriter, DEFAULT_LIMIT};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
#[cfg(feature = "tls")]
pub use tls::{
    open_tls_connection, open_tls_connection_to, open_unix_tls_connection, start_tls_server, start_unix_tls_server,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
