//! A unit's four Modbus tables and the Modbus service that serves them.

use std::{collections::HashMap, future, sync::Arc};

use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

use crate::modbus::{codec, config::RegisterKind, TagConfig};
use crate::sample::Value;

/// Registers of each table; addresses at or past these sizes answer IllegalDataAddress.
pub const TABLE_SIZE: usize = 1000;

/// A unit's tables.
#[derive(Debug, Clone)]
pub struct Bank {
    /// Coils.
    pub coils: Vec<bool>,
    /// Discrete inputs.
    pub discrete: Vec<bool>,
    /// Input registers.
    pub input: Vec<u16>,
    /// Holding registers.
    pub holding: Vec<u16>,
    /// Reads answered, by (table, first address, count): the ground truth of polls made,
    /// which fault tests compare with what the platform stored.
    pub reads: HashMap<(RegisterKind, u16, u16), u64>,
}

impl Default for Bank {
    fn default() -> Self {
        Bank {
            coils: vec![false; TABLE_SIZE],
            discrete: vec![false; TABLE_SIZE],
            input: vec![0; TABLE_SIZE],
            holding: vec![0; TABLE_SIZE],
            reads: HashMap::new(),
        }
    }
}

fn range(start: u16, count: u16, len: usize) -> Result<std::ops::Range<usize>, ExceptionCode> {
    let (s, e) = (usize::from(start), usize::from(start) + usize::from(count));
    if count == 0 || e > len {
        Err(ExceptionCode::IllegalDataAddress)
    } else {
        Ok(s..e)
    }
}

impl Bank {
    /// Stores a tag's engineering value, encoded as the tag describes.
    pub fn set(&mut self, tag: &TagConfig, value: &Value) {
        match tag.kind {
            RegisterKind::Coil => {
                self.coils[usize::from(tag.address)] = value.as_f64().unwrap_or(0.0) != 0.0
            }
            RegisterKind::DiscreteInput => {
                self.discrete[usize::from(tag.address)] = value.as_f64().unwrap_or(0.0) != 0.0
            }
            RegisterKind::Input | RegisterKind::Holding => {
                let raw = codec::from_engineering(value, tag);
                let Ok(words) = codec::encode(&raw, tag.data_type, tag.order, tag.length) else {
                    return;
                };
                let table = if tag.kind == RegisterKind::Input {
                    &mut self.input
                } else {
                    &mut self.holding
                };
                let a = usize::from(tag.address);
                table[a..a + words.len()].copy_from_slice(&words);
            }
        }
    }

    /// Reads a tag's engineering value back (setpoints written by clients).
    pub fn get(&self, tag: &TagConfig) -> Option<Value> {
        let a = usize::from(tag.address);
        match tag.kind {
            RegisterKind::Coil => Some(Value::Bool(self.coils[a])),
            RegisterKind::DiscreteInput => Some(Value::Bool(self.discrete[a])),
            RegisterKind::Input | RegisterKind::Holding => {
                let table = if tag.kind == RegisterKind::Input {
                    &self.input
                } else {
                    &self.holding
                };
                let w = table.get(a..a + usize::from(tag.span()))?;
                codec::decode(w, tag.data_type, tag.order)
                    .ok()
                    .map(|v| codec::to_engineering(v, tag))
            }
        }
    }

    /// Reads answered so far that covered `address` of table `kind` (polls made of a tag).
    pub fn reads_covering(&self, kind: RegisterKind, address: u16) -> u64 {
        self.reads
            .iter()
            .filter(|((k, start, count), _)| {
                *k == kind
                    && *start <= address
                    && u32::from(address) < u32::from(*start) + u32::from(*count)
            })
            .map(|(_, n)| *n)
            .sum()
    }

    /// Answers one request.
    pub fn handle(&mut self, req: Request<'_>) -> Result<Response, ExceptionCode> {
        let read = match &req {
            Request::ReadCoils(a, n) => Some((RegisterKind::Coil, *a, *n)),
            Request::ReadDiscreteInputs(a, n) => Some((RegisterKind::DiscreteInput, *a, *n)),
            Request::ReadInputRegisters(a, n) => Some((RegisterKind::Input, *a, *n)),
            Request::ReadHoldingRegisters(a, n) => Some((RegisterKind::Holding, *a, *n)),
            _ => None,
        };
        if let Some(key) = read {
            *self.reads.entry(key).or_default() += 1;
        }
        Ok(match req {
            Request::ReadCoils(a, n) => {
                Response::ReadCoils(self.coils[range(a, n, TABLE_SIZE)?].to_vec())
            }
            Request::ReadDiscreteInputs(a, n) => {
                Response::ReadDiscreteInputs(self.discrete[range(a, n, TABLE_SIZE)?].to_vec())
            }
            Request::ReadInputRegisters(a, n) => {
                Response::ReadInputRegisters(self.input[range(a, n, TABLE_SIZE)?].to_vec())
            }
            Request::ReadHoldingRegisters(a, n) => {
                Response::ReadHoldingRegisters(self.holding[range(a, n, TABLE_SIZE)?].to_vec())
            }
            Request::WriteSingleCoil(a, v) => {
                self.coils[range(a, 1, TABLE_SIZE)?][0] = v;
                Response::WriteSingleCoil(a, v)
            }
            Request::WriteMultipleCoils(a, v) => {
                let r = range(a, v.len() as u16, TABLE_SIZE)?;
                self.coils[r].copy_from_slice(&v);
                Response::WriteMultipleCoils(a, v.len() as u16)
            }
            Request::WriteSingleRegister(a, v) => {
                self.holding[range(a, 1, TABLE_SIZE)?][0] = v;
                Response::WriteSingleRegister(a, v)
            }
            Request::WriteMultipleRegisters(a, v) => {
                let r = range(a, v.len() as u16, TABLE_SIZE)?;
                self.holding[r].copy_from_slice(&v);
                Response::WriteMultipleRegisters(a, v.len() as u16)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        })
    }
}

/// Shared tables of one unit.
pub type SharedBank = Arc<std::sync::Mutex<Bank>>;

/// The Modbus service of one port: the units behind it, by unit id.
#[derive(Debug, Clone)]
pub struct PortService {
    units: Arc<HashMap<u8, SharedBank>>,
}

impl PortService {
    /// A service answering for these units (unit 0 and 255 go to the only unit, if one);
    /// requests to other units get no answer, as on a serial bus.
    pub fn new(units: HashMap<u8, SharedBank>) -> Self {
        PortService {
            units: Arc::new(units),
        }
    }
}

impl tokio_modbus::server::Service for PortService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let bank = self.units.get(&req.slave).or_else(|| {
            (self.units.len() == 1 && (req.slave == 0 || req.slave == 255))
                .then(|| self.units.values().next())
                .flatten()
        });
        future::ready(match bank {
            Some(b) => b.lock().expect("bank lock").handle(req.request).map(Some),
            // An absent unit stays silent, as on a serial bus.
            None => Ok(None),
        })
    }
}
