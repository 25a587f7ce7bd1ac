//! `message_enum!`: generates a message enum (commands or events), its fieldless `Kind`
//! discriminant and a payload trait that maps each variant's struct to its kind.
//!
//! Invariant: variant names, kind names and payload struct names are the same identifier,
//! so `Kind::name()` is the stable message type name used on the wire (`message-type`).

macro_rules! message_enum {
    (
        $(#[$enum_meta:meta])*
        enum $enum:ident;
        $(#[$kind_meta:meta])*
        kind $kind:ident;
        $(#[$payload_meta:meta])*
        payload $payload:ident :: $from:ident;
        variants { $($variant:ident),+ $(,)? }
    ) => {
        $(#[$enum_meta])*
        pub enum $enum {
            $(
                #[allow(missing_docs)]
                $variant($variant),
            )+
        }

        $(#[$kind_meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $kind {
            $($variant),+
        }

        impl $kind {
            /// Every kind, in declaration order (`ALL[k.index()] == k`).
            pub const ALL: &'static [$kind] = &[$($kind::$variant),+];
            /// Number of kinds.
            pub const COUNT: usize = Self::ALL.len();

            /// Dense index in `0..COUNT`, for table lookups.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The stable type name (the `message-type` header value).
            pub const fn name(self) -> &'static str {
                match self {
                    $($kind::$variant => stringify!($variant)),+
                }
            }
        }

        impl $enum {
            /// The variant's kind.
            pub fn kind(&self) -> $kind {
                match self {
                    $($enum::$variant(_) => $kind::$variant),+
                }
            }

            /// The stable type name (the `message-type` header value).
            pub fn type_name(&self) -> &'static str {
                self.kind().name()
            }
        }

        $(#[$payload_meta])*
        pub trait $payload: Into<$enum> + Send + Sync + 'static {
            /// The kind of this payload.
            const KIND: $kind;
            /// Borrows the payload out of the enum when the variant matches.
            fn $from(message: &$enum) -> Option<&Self>;
        }

        $(
            impl From<$variant> for $enum {
                fn from(payload: $variant) -> Self {
                    $enum::$variant(payload)
                }
            }

            impl $payload for $variant {
                const KIND: $kind = $kind::$variant;

                fn $from(message: &$enum) -> Option<&Self> {
                    match message {
                        $enum::$variant(payload) => Some(payload),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )+
    };
}
