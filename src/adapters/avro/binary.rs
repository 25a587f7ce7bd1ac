//! The Avro binary encoding of the primitives the contracts use: `long`/`int` (zig-zag,
//! variable length), strings, and arrays in blocks.
//!
//! Invariants: a writer appends exactly what apache-avro's writer gives for the value; a
//! reader never panics on any input and never reserves more than the input's remaining length
//! could hold (a hostile count cannot allocate gigabytes).

/// Appends an Avro `long` (or `int`: the same encoding): zig-zag, then variable-length.
pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends an Avro `string` (or `bytes`): its length, then its bytes.
pub fn write_str(out: &mut Vec<u8>, value: &str) {
    write_utf8(out, value.as_bytes());
}

/// [`write_str`] of text given as its UTF-8 bytes (an identifier's, already known valid).
pub fn write_utf8(out: &mut Vec<u8>, text: &[u8]) {
    write_long(out, text.len() as i64);
    out.extend_from_slice(text);
}

/// Appends an Avro `array` of `len` items written by `item`: one block of `len` items (none
/// when empty), then the end marker — the layout apache-avro's writer uses.
pub fn write_array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        write_long(out, items.len() as i64);
        for i in items {
            item(out, i);
        }
    }
    out.push(0);
}

/// A datum that does not decode with the DTO's own schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the datum ends early")]
    Truncated,
    #[error("a variable-length integer is longer than 10 bytes")]
    IntegerTooLong,
    #[error("{0} is out of range here")]
    OutOfRange(i64),
    #[error("a string is not UTF-8")]
    NotUtf8,
}

/// Reads an Avro `long`.
pub fn read_long(input: &mut &[u8]) -> Result<i64, ReadError> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = input.split_first().ok_or(ReadError::Truncated)?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
    }
    Err(ReadError::IntegerTooLong)
}

/// Reads an Avro `int`.
pub fn read_int(input: &mut &[u8]) -> Result<i32, ReadError> {
    let n = read_long(input)?;
    i32::try_from(n).map_err(|_| ReadError::OutOfRange(n))
}

/// Reads a length (a non-negative `long` no larger than what is left of the input).
fn read_len(input: &mut &[u8]) -> Result<usize, ReadError> {
    let n = read_long(input)?;
    match usize::try_from(n) {
        Ok(len) if len <= input.len() => Ok(len),
        Ok(_) => Err(ReadError::Truncated),
        Err(_) => Err(ReadError::OutOfRange(n)),
    }
}

/// Reads an Avro `string`.
pub fn read_string(input: &mut &[u8]) -> Result<String, ReadError> {
    let len = read_len(input)?;
    let (bytes, rest) = input.split_at(len);
    *input = rest;
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ReadError::NotUtf8)
}

/// Reads an Avro `array` (blocks of items; a negative count is followed by the block's size
/// in bytes), each item with `item`.
pub fn read_array<T>(
    input: &mut &[u8],
    mut item: impl FnMut(&mut &[u8]) -> Result<T, ReadError>,
) -> Result<Vec<T>, ReadError> {
    let mut items = Vec::new();
    loop {
        let count = read_long(input)?;
        if count == 0 {
            return Ok(items);
        }
        if count < 0 {
            read_long(input)?; // the block's size in bytes
        }
        // Every item takes at least one byte: a count beyond the input is malformed, and no
        // allocation is made for it.
        let count = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        if count > input.len() {
            return Err(ReadError::Truncated);
        }
        // The first block (usually the only one) sizes the vector exactly: `reserve` would
        // round a small array up to four items, and the restore keeps these vectors (a
        // snapshot's batches become the aggregate's, collected in place).
        if items.is_empty() {
            items.reserve_exact(count);
        } else {
            items.reserve(count);
        }
        for _ in 0..count {
            items.push(item(input)?);
        }
    }
}
