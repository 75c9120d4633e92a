//! Message descriptors: for each Kubernetes protobuf message, its fields by number, with the
//! JSON name and the Go presence rules (`omitempty`, pointer, embedded) that decide how the
//! decoded value appears in the JSON form.
//!
//! The tables themselves live in [`crate::tables`], one file per API group, written with the
//! [`message!`] macro defined here.

/// The JSON shape of one field value (the element type for lists and the value type for maps).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    /// `string`.
    Str,
    /// `bool`.
    Bool,
    /// `int32` (a varint, sign-extended).
    I32,
    /// `int64`.
    I64,
    /// `bytes` (`[]byte` in Go): a base64 string in JSON.
    Bytes,
    /// `metav1.Time`: `{1: seconds, 2: nanos}`, an RFC 3339 string with whole seconds.
    Time,
    /// `metav1.MicroTime`: like [`Ty::Time`] with microseconds.
    MicroTime,
    /// `resource.Quantity`: `{1: string}`, the string in JSON.
    Quantity,
    /// `intstr.IntOrString`: `{1: type, 2: intVal, 3: strVal}`, a number or a string in JSON.
    IntOrString,
    /// `runtime.RawExtension` and `metav1.FieldsV1`: `{1: raw}`, the raw bytes are JSON.
    RawJson,
    /// A nested message.
    Msg(&'static Message),
}

impl Ty {
    /// Whether the value is encoded as a varint (and so may be packed in a repeated field).
    pub(crate) fn is_varint(self) -> bool {
        matches!(self, Ty::Bool | Ty::I32 | Ty::I64)
    }

    /// Whether the value is a Go struct (decoded from a length-delimited sub-message).
    pub(crate) fn is_struct(self) -> bool {
        matches!(
            self,
            Ty::Time | Ty::MicroTime | Ty::Quantity | Ty::IntOrString | Ty::RawJson | Ty::Msg(_)
        )
    }
}

/// The field is repeated (a Go slice).
pub(crate) const LIST: u8 = 1;
/// The field is a `map<string, _>` (a Go map).
pub(crate) const MAP: u8 = 2;
/// The Go field has `omitempty` in its JSON tag.
pub(crate) const OMIT: u8 = 4;
/// The Go field is a pointer (nil when absent from the wire).
pub(crate) const PTR: u8 = 8;
/// The Go field is an embedded struct whose fields appear in the enclosing JSON object.
pub(crate) const INLINE: u8 = 16;

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    /// The protobuf field number.
    pub(crate) num: u32,
    /// The JSON name (for an embedded field, the protobuf name, used in error messages only).
    pub(crate) json: &'static str,
    /// The value type.
    pub(crate) ty: Ty,
    /// [`LIST`], [`MAP`], [`OMIT`], [`PTR`] and [`INLINE`] combined.
    pub(crate) flags: u8,
}

impl Field {
    /// Whether `flag` is set.
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A message: its Go type name and its fields, sorted by number.
#[derive(Debug)]
pub(crate) struct Message {
    /// The Go type name (also the `kind` of top-level objects).
    pub(crate) name: &'static str,
    /// The fields, in ascending field-number order.
    pub(crate) fields: &'static [Field],
}

impl Message {
    /// The field with number `num`, if the message has one.
    pub(crate) fn field(&self, num: u32) -> Option<(usize, &'static Field)> {
        let i = self.fields.binary_search_by_key(&num, |f| f.num).ok()?;
        self.fields.get(i).map(|f| (i, f))
    }
}

/// Maps a type keyword of the [`message!`] syntax to a [`Ty`].
macro_rules! ty {
    (str) => {
        $crate::descriptor::Ty::Str
    };
    (bool) => {
        $crate::descriptor::Ty::Bool
    };
    (i32) => {
        $crate::descriptor::Ty::I32
    };
    (i64) => {
        $crate::descriptor::Ty::I64
    };
    (bytes) => {
        $crate::descriptor::Ty::Bytes
    };
    (time) => {
        $crate::descriptor::Ty::Time
    };
    (mtime) => {
        $crate::descriptor::Ty::MicroTime
    };
    (qty) => {
        $crate::descriptor::Ty::Quantity
    };
    (ios) => {
        $crate::descriptor::Ty::IntOrString
    };
    (raw) => {
        $crate::descriptor::Ty::RawJson
    };
    (msg($target:path)) => {
        $crate::descriptor::Ty::Msg(&$target)
    };
}

/// Maps a flag keyword of the [`message!`] syntax to its bit.
macro_rules! flag {
    (list) => {
        $crate::descriptor::LIST
    };
    (map) => {
        $crate::descriptor::MAP
    };
    (omit) => {
        $crate::descriptor::OMIT
    };
    (ptr) => {
        $crate::descriptor::PTR
    };
    (inline) => {
        $crate::descriptor::INLINE
    };
}

/// Declares a `pub(crate) static NAME: Message`.
///
/// Syntax: `message! { NAME = "GoName" { <number> "<json name>" <type> <flags>*; ... } }` with
/// fields in ascending number order. Types: `str bool i32 i64 bytes time mtime qty ios raw
/// msg(PATH)`; flags: `list map omit ptr inline` (see the constants of this module).
macro_rules! message {
    ($id:ident = $name:literal {
        $( $num:literal $json:literal $ty:ident $(($target:path))? $($flag:ident)* ; )*
    }) => {
        #[doc = concat!("The descriptor of `", $name, "`.")]
        pub(crate) static $id: $crate::descriptor::Message = $crate::descriptor::Message {
            name: $name,
            fields: &[ $( $crate::descriptor::Field {
                num: $num,
                json: $json,
                ty: ty!($ty $(($target))?),
                flags: 0 $(| flag!($flag))*,
            } ),* ],
        };
    };
}
