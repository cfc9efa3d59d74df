//! Consistency checks run once after parsing; each message names what is wrong and where.

use std::collections::HashSet;

use super::{DeviceConfig, FaultConfig, Scenario, UnitConfig};
use crate::{registers::Table, signal::Signal};

impl Scenario {
    /// Checks references, ranges and register overlaps.
    pub fn validate(&self) -> Result<(), String> {
        let meta = &self.scenario;
        if !(meta.speed.is_finite() && meta.speed > 0.0) {
            return Err(format!(
                "speed must be a positive number, not {}",
                meta.speed
            ));
        }
        let mut ids = HashSet::new();
        for m in &self.machines {
            if m.id.is_empty() || !ids.insert(m.id.as_str()) {
                return Err(format!("machine id {:?} is empty or used twice", m.id));
            }
            if !(m.rpm > 0.0 && m.rpm < 100_000.0) {
                return Err(format!("machine {}: rpm {} out of range", m.id, m.rpm));
            }
            if m.thermal.tau.secs() <= 0.0 {
                return Err(format!("machine {}: thermal.tau must be positive", m.id));
            }
        }
        let mut device_ids = HashSet::new();
        for d in &self.devices {
            if d.id().is_empty() || !device_ids.insert(d.id()) {
                return Err(format!("device id {:?} is empty or used twice", d.id()));
            }
            self.validate_device(d)
                .map_err(|e| format!("device {}: {e}", d.id()))?;
        }
        for (i, f) in self.faults.iter().enumerate() {
            self.validate_fault(f)
                .map_err(|e| format!("fault #{} ({}): {e}", i + 1, f.kind_name()))?;
        }
        Ok(())
    }

    fn known_machine(&self, id: &str) -> Result<(), String> {
        match self.machine(id) {
            Some(_) => Ok(()),
            None => Err(format!("unknown machine {id:?}")),
        }
    }

    fn validate_device(&self, d: &DeviceConfig) -> Result<(), String> {
        match d {
            DeviceConfig::ModbusTcp(c) => self.validate_units(&c.units),
            DeviceConfig::ModbusRtu(c) => {
                if c.baud < 300 || c.bits_per_char < 7 || c.bits_per_char > 12 {
                    return Err("baud must be at least 300 and bits_per_char 7..=12".into());
                }
                self.validate_units(&c.units)
            }
            DeviceConfig::AccelStream(c) => {
                self.known_machine(&c.machine)?;
                if !(1..=100_000).contains(&c.sample_rate_hz)
                    || !(1..=1024).contains(&c.samples_per_frame)
                    || c.lsb_ug == 0
                {
                    return Err(
                        "sample_rate_hz 1..=100000, samples_per_frame 1..=1024, lsb_ug > 0".into(),
                    );
                }
                Ok(())
            }
            DeviceConfig::TextLine(c) => {
                self.known_machine(&c.machine)?;
                if c.interval.secs() < 0.001 {
                    return Err("interval must be at least 1ms".into());
                }
                if matches!(c.signal, Signal::Constant | Signal::Setpoint) {
                    return Err("a text line sensor prints a measured signal".into());
                }
                Ok(())
            }
        }
    }

    fn validate_units(&self, units: &[UnitConfig]) -> Result<(), String> {
        if units.is_empty() {
            return Err("a Modbus device needs at least one unit".into());
        }
        let mut unit_ids = HashSet::new();
        for u in units {
            if !(1..=247).contains(&u.unit_id) || !unit_ids.insert(u.unit_id) {
                return Err(format!(
                    "unit id {} is outside 1..=247 or used twice",
                    u.unit_id
                ));
            }
            self.known_machine(&u.machine)?;
            let mut used: HashSet<(Table, u32)> = HashSet::new();
            for r in &u.registers {
                let width = if r.table.is_bits() {
                    1
                } else {
                    r.value_type.words() as u32
                };
                let place = format!("unit {} {:?} register {}", u.unit_id, r.table, r.address);
                if u32::from(r.address) + width > 65_536 {
                    return Err(format!("{place}: runs past address 65535"));
                }
                for a in u32::from(r.address)..u32::from(r.address) + width {
                    if !used.insert((r.table, a)) {
                        return Err(format!("{place}: overlaps another entry at address {a}"));
                    }
                }
                if !(r.scale.is_finite() && r.scale != 0.0 && r.offset.is_finite()) {
                    return Err(format!("{place}: scale must be finite and non-zero"));
                }
                let writable_table = matches!(r.table, Table::Holding | Table::Coil);
                if r.signal == Signal::Setpoint && !writable_table {
                    return Err(format!(
                        "{place}: setpoints live in holding registers or coils"
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_fault(&self, f: &FaultConfig) -> Result<(), String> {
        if let (start, Some(end)) = f.window() {
            if end <= start {
                return Err("end must be after start".to_owned());
            }
        }
        let fraction = |name: &str, p: f64| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{name} must be within 0..=1, not {p}"))
            }
        };
        let modbus_device = |id: &str, unit: Option<u8>| match self.device(id) {
            Some(d @ (DeviceConfig::ModbusTcp(_) | DeviceConfig::ModbusRtu(_))) => match unit {
                Some(u) if !d.units().iter().any(|x| x.unit_id == u) => {
                    Err(format!("device {id} has no unit {u}"))
                }
                _ => Ok(()),
            },
            _ => Err(format!("{id:?} is not a Modbus device of this scenario")),
        };
        let serial_device = |id: &str| match self.device(id) {
            Some(
                DeviceConfig::ModbusRtu(_)
                | DeviceConfig::AccelStream(_)
                | DeviceConfig::TextLine(_),
            ) => Ok(()),
            _ => Err(format!("{id:?} is not a serial device of this scenario")),
        };
        match f {
            FaultConfig::BearingWear(c) => {
                self.known_machine(&c.machine)?;
                fraction("severity", c.severity)
            }
            FaultConfig::Imbalance(c) => {
                self.known_machine(&c.machine)?;
                fraction("severity", c.severity)
            }
            FaultConfig::Overheating(c) => {
                self.known_machine(&c.machine)?;
                fraction("severity", c.severity)
            }
            FaultConfig::Stuck(c) | FaultConfig::Dropout(c) => self.known_machine(&c.machine),
            FaultConfig::Spikes(c) => {
                self.known_machine(&c.machine)?;
                if !(c.rate_per_min >= 0.0 && c.factor.is_finite()) {
                    return Err("rate_per_min must be >= 0 and factor finite".into());
                }
                Ok(())
            }
            FaultConfig::ModbusException(c) => {
                modbus_device(&c.device, c.unit)?;
                if c.code == 0 || c.code > 0x7F {
                    return Err(format!("exception code {} out of range", c.code));
                }
                fraction("probability", c.probability)
            }
            FaultConfig::ModbusTimeout(c) => {
                modbus_device(&c.device, c.unit)?;
                fraction("probability", c.probability)
            }
            FaultConfig::CrcError(c) | FaultConfig::Garbled(c) => {
                serial_device(&c.device)?;
                fraction("probability", c.probability)
            }
        }
    }
}
