//! Rows as ClickHouse `Native` blocks: a column after the other, each a run
//! of values of one type, which the server copies into its own columns in
//! one go. With `RowBinary` it parses every value of every row on its own:
//! on the 2-core development machine ClickHouse 18.16 spent 2-3 times less
//! CPU taking the same million `events` rows as `Native` (ClickHouse is the
//! sink's bottleneck, see `benches/README.md`).
//!
//! A row type names its columns once, with [`columns!`](crate::columns!), which implements
//! [`Columns`]. Each column carries the type the table declares, so no
//! server has to convert it; the layout is the one both ClickHouse 18.16 and
//! current servers read over HTTP (no block info, no per-column
//! serialization kinds).
//!
//! The `clickhouse` crate has a `Native` encoder too (`insert_native`), but
//! it made the sink spend more CPU than ClickHouse saved: a generic path per
//! value and a separate HTTP chunk per string of 128 bytes or more (most
//! `props`). Writing each column straight into the block's buffer costs
//! about what `RowBinary` did.

use bytes::{BufMut as _, BytesMut};
use prost::encoding::encode_varint;
use uuid::Uuid;

/// Rows that make the columns of a `Native` block.
pub trait Columns: Sized {
    /// The table's columns, in field order.
    const COLUMNS: &'static [&'static str];

    /// Appends one block holding `rows` (at least one: an empty block ends
    /// a `Native` stream), one column per field.
    fn put_block(rows: &[Self], out: &mut BytesMut);
}

/// A Rust type that is a ClickHouse column type.
pub trait Value {
    /// The type as ClickHouse names it.
    const TYPE: &'static str;

    /// Appends `values`, one column of a block, as `Native` lays it out.
    fn put_column<'a>(values: impl Iterator<Item = &'a Self> + Clone, out: &mut BytesMut)
    where
        Self: 'a;
}

/// The start of a block of `columns` columns and `rows` rows.
pub fn put_header(out: &mut BytesMut, columns: usize, rows: usize) {
    encode_varint(columns as u64, out);
    encode_varint(rows as u64, out);
}

/// One column: its name, its type (`T`'s unless `type_name` says
/// otherwise, e.g. `DateTime('UTC')` for a `u32`) and its values.
pub fn put_column<'a, T: Value + 'a>(
    out: &mut BytesMut,
    name: &str,
    type_name: Option<&str>,
    values: impl Iterator<Item = &'a T> + Clone,
) {
    put_str(out, name);
    put_str(out, type_name.unwrap_or(T::TYPE));
    T::put_column(values, out);
}

fn put_str(out: &mut BytesMut, value: &str) {
    encode_varint(value.len() as u64, out);
    out.put_slice(value.as_bytes());
}

impl Value for String {
    const TYPE: &'static str = "String";

    fn put_column<'a>(values: impl Iterator<Item = &'a Self> + Clone, out: &mut BytesMut) {
        for value in values {
            put_str(out, value);
        }
    }
}

/// `Array(String)`: the end offset of each row's array, then every element.
impl Value for Vec<String> {
    const TYPE: &'static str = "Array(String)";

    fn put_column<'a>(values: impl Iterator<Item = &'a Self> + Clone, out: &mut BytesMut) {
        let mut end = 0u64;
        for value in values.clone() {
            end += value.len() as u64;
            out.put_u64_le(end);
        }
        String::put_column(values.flatten(), out);
    }
}

/// A `UUID` is two little-endian `u64`: the high half, then the low one.
impl Value for Uuid {
    const TYPE: &'static str = "UUID";

    fn put_column<'a>(values: impl Iterator<Item = &'a Self> + Clone, out: &mut BytesMut) {
        for value in values {
            let (high, low) = value.as_u64_pair();
            out.put_u64_le(high);
            out.put_u64_le(low);
        }
    }
}

macro_rules! fixed {
    ($($rust:ty => $name:literal, $put:ident;)+) => {$(
        impl Value for $rust {
            const TYPE: &'static str = $name;

            fn put_column<'a>(values: impl Iterator<Item = &'a Self> + Clone, out: &mut BytesMut) {
                for &value in values {
                    out.$put(value);
                }
            }
        }
    )+};
}

fixed! {
    u8 => "UInt8", put_u8;
    u16 => "UInt16", put_u16_le;
    u32 => "UInt32", put_u32_le;
    i32 => "Int32", put_i32_le;
    i64 => "Int64", put_i64_le;
}

/// Implements [`Columns`] for a row struct from its fields, in order:
/// `columns!(Row { a, b as "DateTime('UTC')", c })`. A field is sent as its
/// Rust type's column type ([`Value`]) unless `as` names the table's (same
/// layout, e.g. `DateTime` for a `u32`). A field left out does not compile.
#[macro_export]
macro_rules! columns {
    ($row:ident { $($field:ident $(as $type_name:literal)?),+ $(,)? }) => {
        impl $crate::columns::Columns for $row {
            const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),+];

            fn put_block(rows: &[Self], out: &mut ::bytes::BytesMut) {
                // Every field is a column: with one missing, this does not compile.
                #[allow(dead_code)]
                fn exhaustive(row: &$row) {
                    let $row { $($field: _),+ } = row;
                }
                $crate::columns::put_header(out, Self::COLUMNS.len(), rows.len());
                $(
                    $crate::columns::put_column(
                        out,
                        stringify!($field),
                        $crate::columns!(@type $($type_name)?),
                        rows.iter().map(|row| &row.$field),
                    );
                )+
            }
        }
    };
    (@type) => { None };
    (@type $type_name:literal) => { Some($type_name) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Row {
        id: Uuid,
        name: String,
        at: u32,
        tags: Vec<String>,
        flag: u8,
    }

    crate::columns!(Row { id, name, at as "DateTime('UTC')", tags, flag });

    /// A `DateTime` value (2023-11-14T22:13:20Z) whose bytes the test
    /// spells out: a layout, no clock involved.
    const AT: u32 = 1_700_000_000;

    #[test]
    fn a_block_is_laid_out_column_after_column() {
        let rows = [
            Row {
                id: Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
                name: "ab".into(),
                at: AT,
                tags: vec!["x".into(), "yz".into()],
                flag: 1,
            },
            Row {
                id: Uuid::from_u128(2),
                name: String::new(),
                at: 0,
                tags: vec![],
                flag: 0,
            },
        ];
        assert_eq!(Row::COLUMNS, ["id", "name", "at", "tags", "flag"]);
        let mut out = BytesMut::new();
        Row::put_block(&rows, &mut out);

        let mut want: Vec<u8> = vec![5, 2];
        let mut column = |name: &str, type_name: &str, data: &[u8]| {
            for s in [name, type_name] {
                want.push(u8::try_from(s.len()).unwrap());
                want.extend_from_slice(s.as_bytes());
            }
            want.extend_from_slice(data);
        };
        let mut ids = Vec::new();
        ids.extend_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        ids.extend_from_slice(&0x090a_0b0c_0d0e_0f10u64.to_le_bytes());
        ids.extend_from_slice(&0u64.to_le_bytes());
        ids.extend_from_slice(&2u64.to_le_bytes());
        column("id", "UUID", &ids);
        column("name", "String", b"\x02ab\x00");
        let mut at = AT.to_le_bytes().to_vec();
        at.extend_from_slice(&0u32.to_le_bytes());
        column("at", "DateTime('UTC')", &at);
        let mut tags = 2u64.to_le_bytes().to_vec();
        tags.extend_from_slice(&2u64.to_le_bytes());
        tags.extend_from_slice(b"\x01x\x02yz");
        column("tags", "Array(String)", &tags);
        column("flag", "UInt8", &[1, 0]);
        assert_eq!(out.as_ref(), want.as_slice());
    }

    #[test]
    fn long_strings_take_a_multi_byte_length() {
        let mut out = BytesMut::new();
        String::put_column([&"x".repeat(300)].into_iter(), &mut out);
        assert_eq!(&out[..2], [0xac, 0x02]);
        assert_eq!(out.len(), 302);
    }
}
