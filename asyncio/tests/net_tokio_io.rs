//! The `tokio-io` feature: code written against tokio's I/O traits runs
//! over our sockets and streams (run with `--features tokio-io`).
#![cfg(feature = "tokio-io")]

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

#[test]
fn tokio_trait_code_runs_over_our_sockets_and_streams() {
    asyncio::run(async {
        let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = asyncio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"first line\nsecond")
            .await
            .unwrap();
        AsyncWriteExt::shutdown(&mut client).await.unwrap();

        let (mut reader, mut writer) = server.into_streams();
        let mut line = String::new();
        AsyncBufReadExt::read_line(&mut reader, &mut line).await.unwrap();
        assert_eq!(line, "first line\n");
        let mut rest = String::new();
        AsyncReadExt::read_to_string(&mut reader, &mut rest).await.unwrap();
        assert_eq!(rest, "second");
        AsyncWriteExt::write_all(&mut writer, b"reply").await.unwrap();
        AsyncWriteExt::shutdown(&mut writer).await.unwrap();

        let mut reply = Vec::new();
        AsyncReadExt::read_to_end(&mut client, &mut reply).await.unwrap();
        assert_eq!(reply, b"reply");
    });
}
