//! Canonical encodings of group elements, scalars, identifiers and bounded
//! collections, with serde support for both wire forms.
//!
//! Every point is 32 bytes of compressed Ristretto and every scalar 32 bytes
//! of canonical little-endian; decoding rejects non-canonical scalars and
//! invalid points. In the binary form (postcard) both are 32 raw bytes; in
//! the human-readable form (JSON) both are lowercase hex strings.
//!
//! Serde erases the reason a value was refused, so the deserializers here
//! record the precise [`DecodeFault`] in a thread-local slot that
//! [`crate::wire`] reads back to build a typed [`crate::wire::DecodeError`].

use std::cell::Cell;
use std::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::Identity;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

/// Why a value was refused while decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeFault {
    /// 32 bytes that are not a canonical Ristretto encoding.
    InvalidPoint,
    /// 32 bytes that encode an integer not below the group order.
    NonCanonicalScalar,
    /// A sequence longer than the documented limit for its field.
    TooMany {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// Malformed hex in a human-readable encoding.
    BadHex,
}

thread_local! {
    static LAST_FAULT: Cell<Option<DecodeFault>> = const { Cell::new(None) };
}

pub(crate) fn record_fault(fault: DecodeFault) {
    LAST_FAULT.with(|f| f.set(Some(fault)));
}

pub(crate) fn take_fault() -> Option<DecodeFault> {
    LAST_FAULT.with(|f| f.take())
}

/// A Ristretto group element together with its canonical 32-byte encoding.
///
/// # Invariant
///
/// `compressed == point.compress()`. Both forms are kept because the wire and
/// every transcript use the encoding while arithmetic uses the point, and
/// converting costs a field inversion each way. Constructors establish the
/// invariant; there is no way to set one form alone.
///
/// Equality and hashing use the encoding, which is canonical, so two `Point`s
/// are equal exactly when the group elements are.
#[derive(Clone, Copy)]
pub struct Point {
    compressed: CompressedRistretto,
    point: RistrettoPoint,
}

impl Point {
    /// Wraps a group element, computing its encoding.
    pub fn new(point: RistrettoPoint) -> Self {
        Point { compressed: point.compress(), point }
    }

    /// Decodes 32 bytes; only canonical encodings of group elements decode.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let compressed = CompressedRistretto(*bytes);
        compressed.decompress().map(|point| Point { compressed, point })
    }

    /// The identity element `O`.
    pub fn identity() -> Self {
        // The identity encodes as 32 zero bytes (no compression needed).
        Point { compressed: CompressedRistretto([0; 32]), point: RistrettoPoint::identity() }
    }

    /// The group element.
    pub fn point(&self) -> &RistrettoPoint {
        &self.point
    }

    /// The canonical encoding.
    pub fn compressed(&self) -> &CompressedRistretto {
        &self.compressed
    }

    /// The canonical encoding as bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.compressed.as_bytes()
    }

    /// Whether this is the identity element `O`.
    pub fn is_identity(&self) -> bool {
        // The identity encodes as 32 zero bytes.
        self.compressed.as_bytes() == &[0u8; 32]
    }
}

impl From<RistrettoPoint> for Point {
    fn from(p: RistrettoPoint) -> Self {
        Point::new(p)
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.compressed == other.compressed
    }
}
impl Eq for Point {}

impl std::hash::Hash for Point {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.compressed.as_bytes().hash(state)
    }
}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Point({})", hex::encode(self.as_bytes()))
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(self.as_bytes(), s)
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes: [u8; 32] = hex32::deserialize(d)?;
        Point::from_bytes(&bytes).ok_or_else(|| {
            record_fault(DecodeFault::InvalidPoint);
            de::Error::custom("invalid point encoding")
        })
    }
}

/// Serde for `[u8; N]`: raw bytes in binary forms, hex in human-readable ones.
pub mod hex32 {
    use super::*;

    /// Serializes fixed-size bytes.
    pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            // Serialized as a tuple: postcard writes the N bytes with no prefix.
            serde::Serialize::serialize(&FixedBytes(bytes), s)
        }
    }

    /// Deserializes fixed-size bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
        if d.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(s.as_bytes(), &mut out).map_err(|_| {
                record_fault(DecodeFault::BadHex);
                de::Error::custom(format_args!("expected {N} bytes as hex"))
            })?;
            Ok(out)
        } else {
            d.deserialize_tuple(N, FixedBytesVisitor::<N>)
        }
    }

    struct FixedBytes<'a, const N: usize>(&'a [u8; N]);

    impl<const N: usize> Serialize for FixedBytes<'_, N> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeTuple;
            let mut t = s.serialize_tuple(N)?;
            for b in self.0 {
                t.serialize_element(b)?;
            }
            t.end()
        }
    }

    struct FixedBytesVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for FixedBytesVisitor<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, b) in out.iter_mut().enumerate() {
                *b = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
}

/// Serde for [`Scalar`]: canonical encodings only.
pub mod scalar {
    use super::*;

    /// Serializes a scalar as its 32-byte canonical encoding.
    pub fn serialize<S: Serializer>(x: &Scalar, s: S) -> Result<S::Ok, S::Error> {
        hex32::serialize(x.as_bytes(), s)
    }

    /// Deserializes a scalar, refusing encodings of integers `>= q`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scalar, D::Error> {
        let bytes: [u8; 32] = hex32::deserialize(d)?;
        decode(bytes).ok_or_else(|| de::Error::custom("non-canonical scalar"))
    }

    /// Decodes a canonical scalar, recording the fault otherwise.
    pub fn decode(bytes: [u8; 32]) -> Option<Scalar> {
        let s: Option<Scalar> = Scalar::from_canonical_bytes(bytes).into();
        if s.is_none() {
            record_fault(DecodeFault::NonCanonicalScalar);
        }
        s
    }
}

/// Serde for `Vec<T>` with an upper bound on the number of elements, checked
/// before anything is allocated: the untrusted length never sizes an
/// allocation beyond the bound, and sizes none beyond
/// [`bounded::PREALLOCATE_BYTES`] before the elements are there.
pub mod bounded {
    use super::*;

    /// The most a declared length may preallocate, in bytes of memory.
    pub const PREALLOCATE_BYTES: usize = 64 * 1024;

    /// Serializes the elements as a sequence.
    pub fn serialize<S: Serializer, T: Serialize>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(x)?;
        }
        seq.end()
    }

    /// Deserializes at most `MAX` elements.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>, const MAX: usize>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        d.deserialize_seq(BoundedVisitor::<T, MAX>(std::marker::PhantomData))
    }

    struct BoundedVisitor<T, const MAX: usize>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for BoundedVisitor<T, MAX> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a sequence of at most {MAX} elements")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let too_many = || {
                record_fault(DecodeFault::TooMany { limit: MAX });
                de::Error::custom(format_args!("more than {MAX} elements"))
            };
            let hint = seq.size_hint().unwrap_or(0);
            if hint > MAX {
                return Err(too_many());
            }
            // The hint is the untrusted length prefix (postcard caps it by
            // the number of input bytes left, not by what they can hold), so
            // it sizes at most a small first allocation; the vector grows as
            // elements actually decode.
            let first = hint.min(PREALLOCATE_BYTES / std::mem::size_of::<T>().max(1));
            let mut out = Vec::with_capacity(first);
            while let Some(x) = seq.next_element()? {
                if out.len() == MAX {
                    return Err(too_many());
                }
                out.push(x);
            }
            Ok(out)
        }
    }
}

/// Serde for byte strings with an upper bound on their length.
pub mod bounded_bytes {
    use super::*;

    /// Serializes bytes (length-prefixed in postcard, hex in JSON).
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(v))
        } else {
            s.serialize_bytes(v)
        }
    }

    /// Deserializes at most `MAX` bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const MAX: usize>(d: D) -> Result<Vec<u8>, D::Error> {
        let too_long = || {
            record_fault(DecodeFault::TooMany { limit: MAX });
            de::Error::custom(format_args!("more than {MAX} bytes"))
        };
        if d.is_human_readable() {
            let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            if s.len() > 2 * MAX {
                return Err(too_long());
            }
            hex::decode(s.as_bytes()).map_err(|_| {
                record_fault(DecodeFault::BadHex);
                de::Error::custom("bad hex")
            })
        } else {
            struct V<const MAX: usize>;
            impl<const MAX: usize> Visitor<'_> for V<MAX> {
                type Value = Vec<u8>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "at most {MAX} bytes")
                }
                fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                    if v.len() > MAX {
                        record_fault(DecodeFault::TooMany { limit: MAX });
                        return Err(E::custom("too long"));
                    }
                    Ok(v.to_vec())
                }
            }
            // postcard hands out a borrowed slice after checking it is in
            // the input, so a huge length prefix allocates nothing.
            d.deserialize_bytes(V::<MAX>)
        }
    }
}

/// Serde for UTF-8 strings with an upper bound on their length in bytes.
pub mod bounded_str {
    use super::*;

    /// Serializes the string.
    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v)
    }

    /// Deserializes at most `MAX` bytes of UTF-8.
    pub fn deserialize<'de, D: Deserializer<'de>, const MAX: usize>(d: D) -> Result<String, D::Error> {
        struct V<const MAX: usize>;
        impl<const MAX: usize> Visitor<'_> for V<MAX> {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string of at most {MAX} bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                if v.len() > MAX {
                    record_fault(DecodeFault::TooMany { limit: MAX });
                    return Err(E::custom("string too long"));
                }
                Ok(v.to_owned())
            }
        }
        d.deserialize_str(V::<MAX>)
    }
}

/// Defines a fixed-size identifier newtype with hex `Display`/`FromStr`.
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// The identifier's bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl std::str::FromStr for $name {
            type Err = hex::FromHexError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; $len];
                hex::decode_to_slice(s.trim(), &mut out)?;
                Ok($name(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::encoding::hex32::serialize(&self.0, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::encoding::hex32::deserialize(d).map($name)
            }
        }
    };
}
pub(crate) use define_id;

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::RISTRETTO_BASEPOINT_POINT as G;

    #[test]
    fn point_roundtrip_binary_and_json() {
        let p = Point::new(G * Scalar::from(7u64));
        let bin = postcard::to_allocvec(&p).unwrap();
        assert_eq!(bin.len(), 32);
        assert_eq!(postcard::from_bytes::<Point>(&bin).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Point>(&json).unwrap(), p);
    }

    #[test]
    fn invalid_point_is_refused_with_fault() {
        let mut bytes = [0xffu8; 32];
        bytes[31] = 0x7f;
        assert!(Point::from_bytes(&bytes).is_none());
        let _ = take_fault();
        assert!(postcard::from_bytes::<Point>(&bytes).is_err());
        assert_eq!(take_fault(), Some(DecodeFault::InvalidPoint));
    }

    #[test]
    fn non_canonical_scalar_is_refused_with_fault() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct S(#[serde(with = "scalar")] Scalar);
        let bytes = [0xffu8; 32];
        let _ = take_fault();
        assert!(postcard::from_bytes::<S>(&bytes).is_err());
        assert_eq!(take_fault(), Some(DecodeFault::NonCanonicalScalar));
    }

    #[test]
    fn bounded_vec_refuses_long_length_prefix_without_allocating() {
        #[derive(Deserialize, Debug)]
        struct V(#[serde(deserialize_with = "bounded::deserialize::<_, u8, 4>")] Vec<u8>);
        // length 2^40 encoded as a varint, then nothing: refused without
        // allocating (postcard gives no size hint beyond the input)
        let bytes = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20];
        let _ = take_fault();
        assert!(postcard::from_bytes::<V>(&bytes).is_err());
        // five elements present where four are allowed
        let five = [5u8, 1, 2, 3, 4, 5];
        let _ = take_fault();
        assert!(postcard::from_bytes::<V>(&five).is_err());
        assert_eq!(take_fault(), Some(DecodeFault::TooMany { limit: 4 }));
        let ok = [3u8, 1, 2, 3];
        assert_eq!(postcard::from_bytes::<V>(&ok).unwrap().0, vec![1, 2, 3]);
    }

    #[test]
    fn identity_is_recognised() {
        assert!(Point::identity().is_identity());
        assert_eq!(Point::identity(), Point::new(RistrettoPoint::identity()));
        assert_eq!(Point::identity().point(), Point::new(RistrettoPoint::identity()).point());
        assert!(!Point::new(G).is_identity());
    }
}
