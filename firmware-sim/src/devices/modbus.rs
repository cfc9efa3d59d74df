//! The Modbus service shared by the TCP gateway and the RTU bus: unit lookup, the
//! `modbus_exception` / `modbus_timeout` faults, then the unit's register map.
//!
//! Keeps tokio-modbus's distinction: an [`Outcome::Exception`] means the device is alive and
//! said no; [`Outcome::Silent`] means nothing comes back (the master will time out).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use tokio_modbus::{ExceptionCode, Request, Response};

use crate::{
    clock::SimClock, physics::noise, plant::Plant, registers::UnitMap, scenario::UnitConfig,
    timeline::Effect,
};

/// What the device does with one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// A normal response.
    Reply(Response),
    /// An exception response.
    Exception(ExceptionCode),
    /// No response at all (a `modbus_timeout` fault).
    Silent,
    /// No unit with that id here.
    UnknownUnit,
}

/// One Modbus device (a TCP gateway or an RTU bus) and its units.
#[derive(Debug)]
pub(crate) struct ModbusDevice {
    id: String,
    plant: Arc<Plant>,
    clock: SimClock,
    units: BTreeMap<u8, UnitMap>,
    requests: AtomicU64,
}

impl ModbusDevice {
    pub fn new(id: &str, units: &[UnitConfig], plant: Arc<Plant>, clock: SimClock) -> Self {
        let units = units
            .iter()
            .filter_map(|u| Some((u.unit_id, UnitMap::new(u, &plant)?)))
            .collect();
        Self {
            id: id.to_owned(),
            plant,
            clock,
            units,
            requests: AtomicU64::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn plant(&self) -> &Plant {
        &self.plant
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The unit ids served.
    pub fn unit_ids(&self) -> Vec<u8> {
        self.units.keys().copied().collect()
    }

    /// Handles a request addressed to `unit`.
    pub fn handle(&self, unit: u8, request: &Request<'_>) -> Outcome {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let t = self.clock.now();
        let Some(map) = self.units.get(&unit) else {
            return Outcome::UnknownUnit;
        };
        for f in self.plant.timeline().device_faults(&self.id, Some(unit), t) {
            let key = noise::key(
                self.plant.seed(),
                &["modbus", &self.id, &f.interval.id.to_string()],
            );
            match f.effect {
                Effect::ModbusTimeout { probability } if noise::uniform(key, n) < probability => {
                    return Outcome::Silent;
                }
                Effect::ModbusException { code, probability }
                    if noise::uniform(key, n) < probability =>
                {
                    return Outcome::Exception(ExceptionCode::new(code));
                }
                _ => {}
            }
        }
        match map.handle(&self.plant, request, t) {
            Ok(response) => Outcome::Reply(response),
            Err(code) => Outcome::Exception(code),
        }
    }
}
