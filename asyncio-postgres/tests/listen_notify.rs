//! LISTEN/NOTIFY: add_listener's stream of notifications.

mod support;

use std::time::Duration;

use support::connect;

#[asyncio::test]
async fn notifications_arrive_on_the_listener_of_their_channel() {
    let conn = connect().await;
    let orders = conn.add_listener("orders").await.unwrap();
    let other = conn.add_listener("Other Channel").await.unwrap();
    let sender = connect().await;
    sender
        .execute("SELECT pg_notify('orders', 'first')", &[])
        .await
        .unwrap();
    sender.execute("NOTIFY \"Other Channel\", 'x'", &[]).await.unwrap();
    sender
        .execute("SELECT pg_notify('orders', 'second')", &[])
        .await
        .unwrap();
    let sender_pid: i32 = sender.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();

    let first = orders.recv().await.unwrap();
    assert_eq!(
        (first.channel(), first.payload(), first.process_id()),
        ("orders", "first", sender_pid)
    );
    assert_eq!(orders.recv().await.unwrap().payload(), "second");
    let x = other.recv().await.unwrap();
    assert_eq!((x.channel(), x.payload()), ("Other Channel", "x"));
}

#[asyncio::test]
async fn two_listeners_of_one_channel_both_receive() {
    let conn = connect().await;
    let a = conn.add_listener("fanout").await.unwrap();
    let b = conn.add_listener("fanout").await.unwrap();
    conn.execute("NOTIFY fanout, 'hi'", &[]).await.unwrap();
    assert_eq!(a.recv().await.unwrap().payload(), "hi");
    assert_eq!(b.recv().await.unwrap().payload(), "hi");
}

#[asyncio::test]
async fn dropping_the_last_listener_unlistens() {
    let conn = connect().await;
    let listener = conn.add_listener("gone").await.unwrap();
    let channels = || async {
        conn.fetch("SELECT pg_listening_channels()", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    assert_eq!(channels().await, ["gone"]);
    drop(listener);
    assert!(channels().await.is_empty());
}

#[asyncio::test]
async fn the_stream_ends_when_the_connection_closes() {
    let conn = connect().await;
    let listener = conn.add_listener("ending").await.unwrap();
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    let admin = connect().await;
    admin
        .execute("SELECT pg_notify('ending', 'last words')", &[])
        .await
        .unwrap();
    // Received before the termination: PostgreSQL does not order a
    // notification's delivery before a `pg_terminate_backend` sent after
    // it (the listening backend may be told to die first).
    assert_eq!(listener.recv().await.unwrap().payload(), "last words");
    admin
        .execute("SELECT pg_terminate_backend($1, 30000)", &[&pid])
        .await
        .unwrap();
    let end = asyncio::timeout(Duration::from_secs(30), listener.recv())
        .await
        .expect("the stream did not end");
    assert!(end.is_none());
    // A second listener of the channel on the ended session: an error,
    // not a stream that never ends.
    let err = conn.add_listener("ending").await.unwrap_err();
    assert!(matches!(err, asyncio_postgres::Error::Closed(_)), "{err:?}");
}

/// The server's notices reach every log listener of the connection, in
/// order, with their severity; without one they are dropped.
#[asyncio::test]
async fn notices_reach_the_log_listeners() {
    let conn = connect().await;
    let raise = "DO $$ BEGIN RAISE NOTICE 'hello %', 42; RAISE WARNING 'careful' USING HINT = 'look'; END $$";
    let log = conn.add_log_listener();
    conn.execute(raise, &[]).await.unwrap();
    let notice = log.recv().await.unwrap();
    assert_eq!((notice.severity(), notice.message()), ("NOTICE", "hello 42"));
    let warning = log.recv().await.unwrap();
    assert_eq!((warning.severity(), warning.message()), ("WARNING", "careful"));
    assert_eq!(warning.hint(), Some("look"));
    assert!(log.try_recv().is_none());
    drop(log);
    conn.execute(raise, &[]).await.unwrap();
    let later = conn.add_log_listener();
    assert!(later.try_recv().is_none(), "notices from before it are not kept");
}
