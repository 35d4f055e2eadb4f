//! Modbus devices and tags as the config file lists them. The `///` comments on the fields are
//! the user documentation of the config file.

use serde::{Deserialize, Serialize};

/// The `[modbus]` section: the devices this connector polls.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModbusConfig {
    /// The devices, one `[[modbus.device]]` table each.
    #[serde(default, rename = "device")]
    pub devices: Vec<DeviceConfig>,
}

impl ModbusConfig {
    /// True when no device is configured (the section is then left out of written configs).
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }
}

/// How a device is reached.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP (MBAP header) to `address`.
    Tcp,
    /// RTU frames over a TCP connection to a serial-to-Ethernet gateway at `address`.
    RtuOverTcp,
    /// RTU over the serial line described by `serial`.
    Rtu,
}

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even parity (the Modbus default).
    Even,
    /// Odd parity.
    Odd,
}

/// A serial line for RTU.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Device path, e.g. `/dev/ttyUSB0`. Devices on the same path share the bus.
    pub path: String,
    /// Baud rate, e.g. 19200.
    #[serde(default = "default_baud")]
    pub baud_rate: u32,
    /// Parity: `none`, `even` or `odd`.
    #[serde(default = "default_parity")]
    pub parity: Parity,
    /// Stop bits: 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Data bits: 7 or 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
}

fn default_baud() -> u32 {
    19200
}
fn default_parity() -> Parity {
    Parity::Even
}
fn default_stop_bits() -> u8 {
    1
}
fn default_data_bits() -> u8 {
    8
}

/// One device (one unit id behind one endpoint).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Name of the device in logs and in `probe --device`; unique in the file.
    pub name: String,
    /// `tcp`, `rtu_over_tcp` or `rtu`.
    #[serde(default = "default_transport")]
    pub transport: Transport,
    /// `host:port` for `tcp` and `rtu_over_tcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The serial line for `rtu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<SerialConfig>,
    /// Modbus unit (slave) id, 0 to 255; TCP devices usually answer on 1 or 255.
    #[serde(default = "default_unit")]
    pub unit_id: u8,
    /// Time between the starts of two polls, in milliseconds (0 polls back to back).
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// Time allowed for each request (and for connecting), in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Largest number of unused registers (or coils) read to merge two tags into one request.
    #[serde(default = "default_gap")]
    pub max_gap: u16,
    /// Most registers in one read request (the protocol allows 125).
    #[serde(default = "default_max_registers")]
    pub max_registers_per_read: u16,
    /// Most coils or discrete inputs in one read request (the protocol allows 2000).
    #[serde(default = "default_max_bits")]
    pub max_bits_per_read: u16,
    /// First wait before reconnecting after a failure, in milliseconds; doubles up to the cap.
    #[serde(default = "default_backoff_min")]
    pub backoff_initial_ms: u64,
    /// Longest wait between reconnect attempts, in milliseconds.
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    /// The tags read from this device, one `[[modbus.device.tag]]` table each.
    #[serde(default, rename = "tag")]
    pub tags: Vec<TagConfig>,
}

fn default_transport() -> Transport {
    Transport::Tcp
}
fn default_unit() -> u8 {
    1
}
fn default_poll() -> u64 {
    1000
}
fn default_timeout() -> u64 {
    500
}
fn default_gap() -> u16 {
    8
}
fn default_max_registers() -> u16 {
    125
}
fn default_max_bits() -> u16 {
    2000
}
fn default_backoff_min() -> u64 {
    200
}
fn default_backoff_max() -> u64 {
    30_000
}

/// Which Modbus table a tag lives in.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum RegisterKind {
    /// Coils (FC 1 read, FC 5/15 write).
    Coil,
    /// Discrete inputs (FC 2, read only).
    DiscreteInput,
    /// Input registers (FC 4, read only).
    Input,
    /// Holding registers (FC 3 read, FC 6/16 write).
    Holding,
}

impl RegisterKind {
    /// True for coils and discrete inputs.
    pub fn is_bit(self) -> bool {
        matches!(self, RegisterKind::Coil | RegisterKind::DiscreteInput)
    }
}

/// The type a tag's registers hold.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// One bit (coil, discrete input) or a register that is non-zero.
    Bool,
    /// Unsigned 16 bits, one register.
    U16,
    /// Signed 16 bits, one register.
    I16,
    /// Unsigned 32 bits, two registers.
    U32,
    /// Signed 32 bits, two registers.
    I32,
    /// Unsigned 64 bits, four registers.
    U64,
    /// Signed 64 bits, four registers.
    I64,
    /// IEEE 754 single, two registers.
    F32,
    /// IEEE 754 double, four registers.
    F64,
    /// ASCII text, two characters per register, `length` registers.
    String,
}

impl DataType {
    /// All types, in the order probe prints them.
    pub const ALL: [DataType; 10] = [
        DataType::Bool,
        DataType::U16,
        DataType::I16,
        DataType::U32,
        DataType::I32,
        DataType::U64,
        DataType::I64,
        DataType::F32,
        DataType::F64,
        DataType::String,
    ];

    /// Registers a value of this type takes (`string` takes `length`).
    pub fn registers(self, length: u16) -> u16 {
        match self {
            DataType::Bool | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String => length,
        }
    }
}

/// Word and byte order of multi-register values, named by where the bytes of the big-endian
/// value `A B C D` end up: `ABCD` big-endian (Modbus default), `CDAB` word-swapped, `BADC`
/// byte-swapped, `DCBA` little-endian. For 64-bit values the pattern extends to four words.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
pub enum WordOrder {
    /// Big-endian words, big-endian bytes in each word.
    #[default]
    #[serde(rename = "ABCD")]
    Abcd,
    /// Little-endian word order, big-endian bytes in each word.
    #[serde(rename = "CDAB")]
    Cdab,
    /// Big-endian word order, bytes swapped in each word.
    #[serde(rename = "BADC")]
    Badc,
    /// Little-endian words and bytes.
    #[serde(rename = "DCBA")]
    Dcba,
}

impl WordOrder {
    /// All orders, in the order probe prints them.
    pub const ALL: [WordOrder; 4] = [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ];

    /// The name as written in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }
}

/// One tag: where it is, how to decode it, which platform tag it feeds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TagConfig {
    /// Name of the tag on this connector (probe, writes); unique within the device.
    pub name: String,
    /// The platform tag this one feeds; defaults to `<device>.<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_tag: Option<String>,
    /// `coil`, `discrete_input`, `input` or `holding`.
    pub kind: RegisterKind,
    /// Zero-based address of the first register or bit (protocol address, not 4xxxx numbering).
    pub address: u16,
    /// `bool`, `u16`, `i16`, `u32`, `i32`, `u64`, `i64`, `f32`, `f64` or `string`.
    #[serde(rename = "type", default = "default_type")]
    pub data_type: DataType,
    /// Word and byte order: `ABCD` (default), `CDAB`, `BADC` or `DCBA`.
    #[serde(default)]
    pub order: WordOrder,
    /// Registers of a `string` tag (two characters each).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub length: u16,
    /// Engineering value = raw × scale + offset.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Engineering value = raw × scale + offset.
    #[serde(default)]
    pub offset: f64,
    /// A new value is sent only when it differs from the last sent by more than this
    /// (0 sends every poll); quality changes are always sent.
    #[serde(default)]
    pub deadband: f64,
    /// Engineering unit, for people (e.g. `°C`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Whether the platform may write this tag (FC 5/15 for coils, FC 6/16 for holding registers).
    #[serde(default)]
    pub writable: bool,
}

fn default_type() -> DataType {
    DataType::U16
}
fn default_scale() -> f64 {
    1.0
}
fn is_zero(v: &u16) -> bool {
    *v == 0
}

impl TagConfig {
    /// Registers (or bits) this tag spans.
    pub fn span(&self) -> u16 {
        if self.kind.is_bit() {
            1
        } else {
            self.data_type.registers(self.length)
        }
    }

    /// The platform tag name, `<device>.<name>` unless set.
    pub fn platform_tag(&self, device: &str) -> String {
        self.platform_tag
            .clone()
            .unwrap_or_else(|| format!("{device}.{}", self.name))
    }
}

impl DeviceConfig {
    /// Checks what serde cannot: endpoint present, tags consistent. Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        match self.transport {
            Transport::Tcp | Transport::RtuOverTcp if self.address.is_none() => {
                return Err(format!(
                    "device {:?}: field `address` is required for this transport",
                    self.name
                ))
            }
            Transport::Rtu if self.serial.is_none() => {
                return Err(format!(
                    "device {:?}: field `serial` is required for transport rtu",
                    self.name
                ))
            }
            _ => {}
        }
        if self.timeout_ms == 0 {
            return Err(format!(
                "device {:?}: field `timeout_ms` must be positive",
                self.name
            ));
        }
        if self.max_registers_per_read == 0 || self.max_registers_per_read > 125 {
            return Err(format!(
                "device {:?}: field `max_registers_per_read` must be 1 to 125",
                self.name
            ));
        }
        if self.max_bits_per_read == 0 || self.max_bits_per_read > 2000 {
            return Err(format!(
                "device {:?}: field `max_bits_per_read` must be 1 to 2000",
                self.name
            ));
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.tags {
            if !names.insert(&t.name) {
                return Err(format!(
                    "device {:?}: tag `name` {:?} appears twice",
                    self.name, t.name
                ));
            }
            if t.kind.is_bit() && t.data_type != DataType::Bool {
                return Err(format!("device {:?}, tag {:?}: field `type` must be bool for coils and discrete inputs", self.name, t.name));
            }
            if t.data_type == DataType::String && (t.length == 0 || t.length > 125) {
                return Err(format!(
                    "device {:?}, tag {:?}: field `length` must be 1 to 125 for strings",
                    self.name, t.name
                ));
            }
            if u32::from(t.address) + u32::from(t.span()) > 65536 {
                return Err(format!(
                    "device {:?}, tag {:?}: field `address` runs past register 65535",
                    self.name, t.name
                ));
            }
            if t.writable && matches!(t.kind, RegisterKind::Input | RegisterKind::DiscreteInput) {
                return Err(format!("device {:?}, tag {:?}: field `writable` is only allowed for coils and holding registers", self.name, t.name));
            }
            if t.scale == 0.0 || !t.scale.is_finite() {
                return Err(format!(
                    "device {:?}, tag {:?}: field `scale` must be finite and non-zero",
                    self.name, t.name
                ));
            }
        }
        Ok(())
    }
}
