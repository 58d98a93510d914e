//! Rows into structs through serde (feature `serde`).

mod support;

use asyncio_postgres::Error;
use serde::Deserialize;
use support::connect;

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: i32,
    name: String,
    price: f64,
    note: Option<String>,
    in_stock: bool,
}

#[asyncio::test]
async fn rows_deserialize_into_structs_by_column_name() {
    let conn = connect().await;
    let items: Vec<Item> = conn
        .fetch_as(
            "SELECT 'pen' AS name, 1 AS id, 2.5::float8 AS price, NULL::text AS note, true AS in_stock \
             UNION ALL SELECT 'ink', 2, 4.0, 'blue', false ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        items,
        [
            Item {
                id: 1,
                name: "pen".into(),
                price: 2.5,
                note: None,
                in_stock: true
            },
            Item {
                id: 2,
                name: "ink".into(),
                price: 4.0,
                note: Some("blue".into()),
                in_stock: false
            },
        ]
    );
}

#[asyncio::test]
async fn rows_deserialize_into_tuples_by_position() {
    let conn = connect().await;
    let row: Option<(i64, String, Option<i16>, Vec<u8>)> = conn
        .fetchrow_as("SELECT 7::int8, 'x', NULL::int2, '\\x0102'::bytea", &[])
        .await
        .unwrap();
    assert_eq!(row, Some((7, "x".into(), None, vec![1, 2])));
    let none: Option<(i32,)> = conn.fetchrow_as("SELECT 1 WHERE false", &[]).await.unwrap();
    assert_eq!(none, None);
}

#[asyncio::test]
async fn a_row_that_does_not_fit_is_a_decode_error() {
    let conn = connect().await;
    // A missing field.
    let err = conn.fetch_as::<Item>("SELECT 1 AS id", &[]).await.unwrap_err();
    assert!(matches!(&err, Error::Decode(m) if m.contains("name")), "{err:?}");
    // A NULL where the field is not an Option.
    let err = conn.fetchrow_as::<(i32,)>("SELECT NULL::int", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
    // A type serde reading does not know, named with its column.
    let err = conn.fetch_as::<(String,)>("SELECT now() AS at", &[]).await.unwrap_err();
    assert!(matches!(&err, Error::Decode(m) if m.contains("\"at\"")), "{err:?}");
}
