//! From the file as written to validated [`model`](super::model) types, reporting every
//! mistake at its key.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use edge_rules::lang::{parse_duration_ms, Reporter};
use toml::Spanned;

use super::model::*;
use super::schema::{DeviceDef, RegisterDef, StreamDef};

pub(super) type Span = Range<usize>;

/// The serial-line keys of a device or stream, with where they are.
pub(super) struct SerialKeys<'a> {
    pub port: &'a Option<Spanned<String>>,
    pub baud: &'a Option<Spanned<i64>>,
    pub parity: &'a Option<Spanned<String>>,
    pub data_bits: &'a Option<Spanned<i64>>,
    pub stop_bits: &'a Option<Spanned<i64>>,
}

impl SerialKeys<'_> {
    fn present(&self) -> Option<Span> {
        (self.port.as_ref().map(Spanned::span))
            .or(self.baud.as_ref().map(Spanned::span))
            .or(self.parity.as_ref().map(Spanned::span))
            .or(self.data_bits.as_ref().map(Spanned::span))
            .or(self.stop_bits.as_ref().map(Spanned::span))
    }

    /// The line, or `None` after reporting what is wrong; `whole` locates a missing `port`.
    pub(super) fn line(&self, whole: Span, report: &mut Reporter<'_>) -> Option<SerialLine> {
        let Some(port) = self.port else {
            report.error(whole, "a serial device or stream needs `port`, the path of its serial line (for example \"/dev/ttyUSB0\")");
            return None;
        };
        let baud = int_in(self.baud, 9600, 50..=4_000_000, "baud", report)? as u32;
        let parity = match self
            .parity
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()))
        {
            None | Some(("even", _)) => Parity::Even,
            Some(("none", _)) => Parity::None,
            Some(("odd", _)) => Parity::Odd,
            Some((other, span)) => {
                report.error(
                    span,
                    format!("unknown parity `{other}`: expected `none`, `even` or `odd`"),
                );
                return None;
            }
        };
        let data_bits = int_in(self.data_bits, 8, 7..=8, "data_bits", report)? as u8;
        let stop_bits = int_in(self.stop_bits, 1, 1..=2, "stop_bits", report)? as u8;
        Some(SerialLine {
            path: PathBuf::from(port.get_ref()),
            baud,
            parity,
            data_bits,
            stop_bits,
        })
    }
}

pub(super) fn int_in(
    value: &Option<Spanned<i64>>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
    key: &str,
    report: &mut Reporter<'_>,
) -> Option<i64> {
    let Some(v) = value else { return Some(default) };
    if range.contains(v.get_ref()) {
        return Some(*v.get_ref());
    }
    report.error(
        v.span(),
        format!(
            "{key} must be from {} to {}, not {}",
            range.start(),
            range.end(),
            v.get_ref()
        ),
    );
    None
}

pub(super) fn duration(
    value: &Spanned<String>,
    key: &str,
    report: &mut Reporter<'_>,
) -> Option<Duration> {
    match parse_duration_ms(value.get_ref()) {
        Ok(0) => {
            report.error(value.span(), format!("{key} must be longer than 0"));
            None
        }
        Ok(ms) => Some(Duration::from_millis(ms as u64)),
        Err(message) => {
            report.error(value.span(), message);
            None
        }
    }
}

/// Sensor ids must be unique across devices and streams: a reading names only its sensor.
#[derive(Default)]
pub(super) struct SensorIds(HashSet<String>);

impl SensorIds {
    pub(super) fn claim(&mut self, id: &Spanned<String>, report: &mut Reporter<'_>) {
        if id.get_ref().trim().is_empty() {
            report.error(id.span(), "a sensor id must not be empty");
        } else if !self.0.insert(id.get_ref().clone()) {
            report.error(
                id.span(),
                format!(
                    "sensor `{}` is fed by two registers or streams",
                    id.get_ref()
                ),
            );
        }
    }
}

pub(super) fn device(
    def: &Spanned<DeviceDef>,
    sensors: &mut SensorIds,
    report: &mut Reporter<'_>,
) -> Option<Device> {
    let whole = def.span();
    let d = def.get_ref();
    let serial = SerialKeys {
        port: &d.port,
        baud: &d.baud,
        parity: &d.parity,
        data_bits: &d.data_bits,
        stop_bits: &d.stop_bits,
    };
    let transport = match d.transport.get_ref().as_str() {
        "tcp" => {
            if let Some(span) = serial.present() {
                report.error(span, "serial settings do not apply to a `tcp` device");
            }
            match &d.address {
                Some(a)
                    if a.get_ref().rsplit_once(':').is_some_and(|(host, port)| {
                        !host.is_empty() && port.parse::<u16>().is_ok()
                    }) =>
                {
                    Some(Transport::Tcp {
                        address: a.get_ref().clone(),
                    })
                }
                Some(a) => {
                    report.error(
                        a.span(),
                        format!(
                            "address `{}` must be HOST:PORT, for example \"192.168.1.20:502\"",
                            a.get_ref()
                        ),
                    );
                    None
                }
                None => {
                    report.error(whole.clone(), "a `tcp` device needs `address`, HOST:PORT");
                    None
                }
            }
        }
        "rtu" => {
            if let Some(a) = &d.address {
                report.error(
                    a.span(),
                    "`address` does not apply to an `rtu` device: it has `port`",
                );
            }
            serial.line(whole.clone(), report).map(Transport::Rtu)
        }
        other => {
            report.error(
                d.transport.span(),
                format!("unknown transport `{other}`: expected `tcp` or `rtu`"),
            );
            None
        }
    };
    let unit_range = if matches!(transport, Some(Transport::Rtu(_))) {
        1..=247
    } else {
        0..=255
    };
    let unit = int_in(&d.unit, 1, unit_range, "unit", report);
    let timeout = match &d.timeout {
        None => Some(Duration::from_secs(1)),
        Some(t) => duration(t, "timeout", report),
    };
    if d.poll.is_empty() {
        report.error(
            whole,
            format!(
                "device `{}` has nothing to poll: add a [[device.poll]] with registers",
                d.id.get_ref()
            ),
        );
    }
    let polls: Vec<_> = d
        .poll
        .iter()
        .filter_map(|p| {
            let interval = duration(&p.get_ref().interval, "interval", report);
            if p.get_ref().register.is_empty() {
                report.error(
                    p.span(),
                    "a poll group needs at least one [[device.poll.register]]",
                );
            }
            let registers: Vec<_> = p
                .get_ref()
                .register
                .iter()
                .filter_map(|r| register(r, sensors, report))
                .collect();
            (registers.len() == p.get_ref().register.len()).then_some(PollGroup {
                interval: interval?,
                registers,
            })
        })
        .collect();
    if polls.len() != d.poll.len() {
        return None;
    }
    Some(Device {
        id: d.id.get_ref().clone(),
        transport: transport?,
        unit: unit? as u8,
        timeout: timeout?,
        merge_reads: d.merge_reads.unwrap_or(true),
        polls,
    })
}

fn register(
    def: &Spanned<RegisterDef>,
    sensors: &mut SensorIds,
    report: &mut Reporter<'_>,
) -> Option<Register> {
    let r = def.get_ref();
    sensors.claim(&r.sensor, report);
    let table = match r.table.get_ref().as_str() {
        "coil" => Some(Table::Coils),
        "discrete" => Some(Table::DiscreteInputs),
        "holding" => Some(Table::HoldingRegisters),
        "input" => Some(Table::InputRegisters),
        other => {
            report.error(
                r.table.span(),
                format!(
                    "unknown table `{other}`: expected `coil`, `discrete`, `holding` or `input`"
                ),
            );
            None
        }
    }?;
    let value_type = match &r.value_type {
        None if table.is_bits() => ValueType::Bool,
        None => ValueType::U16,
        Some(t) => match ValueType::ALL.into_iter().find(|v| v.name() == t.get_ref()) {
            Some(v) if table.is_bits() != (v == ValueType::Bool) => {
                let why = if table.is_bits() {
                    "coils and discrete inputs hold single bits: type must be `bool`"
                } else {
                    "`bool` is for coils and discrete inputs; a register is u16, i16, u32, i32, u64, i64, f32 or f64"
                };
                report.error(t.span(), why);
                return None;
            }
            Some(v) => v,
            None => {
                report.error(t.span(), format!("unknown type `{}`: expected bool, u16, i16, u32, i32, u64, i64, f32 or f64", t.get_ref()));
                return None;
            }
        },
    };
    let last = r.address.get_ref() + i64::from(value_type.width()) - 1;
    if *r.address.get_ref() < 0 || last > 65_535 {
        report.error(
            r.address.span(),
            format!(
                "address {} does not fit: a {} spans addresses up to {last}, and the last is 65535",
                r.address.get_ref(),
                value_type.name()
            ),
        );
        return None;
    }
    let order = match r.order.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
        None | Some(("ABCD", _)) => WordOrder::Abcd,
        Some(("CDAB", _)) => WordOrder::Cdab,
        Some(("BADC", _)) => WordOrder::Badc,
        Some(("DCBA", _)) => WordOrder::Dcba,
        Some((other, span)) => {
            report.error(
                span,
                format!("unknown order `{other}`: expected ABCD, CDAB, BADC or DCBA"),
            );
            return None;
        }
    };
    let scale = finite(&r.scale, 1.0, "scale", report)?;
    if scale == 0.0 {
        report.error(
            r.scale.as_ref().map(Spanned::span).unwrap_or(0..0),
            "scale must not be 0: every reading would be the offset",
        );
        return None;
    }
    Some(Register {
        sensor: r.sensor.get_ref().clone(),
        table,
        address: *r.address.get_ref() as u16,
        value_type,
        order,
        scale,
        offset: finite(&r.offset, 0.0, "offset", report)?,
        unit: r.unit.clone(),
    })
}

fn finite(
    value: &Option<Spanned<f64>>,
    default: f64,
    key: &str,
    report: &mut Reporter<'_>,
) -> Option<f64> {
    let Some(v) = value else { return Some(default) };
    if v.get_ref().is_finite() {
        return Some(*v.get_ref());
    }
    report.error(v.span(), format!("{key} must be a finite number"));
    None
}

pub(super) fn stream(
    def: &Spanned<StreamDef>,
    sensors: &mut SensorIds,
    report: &mut Reporter<'_>,
) -> Option<Stream> {
    let s = def.get_ref();
    let serial = SerialKeys {
        port: &s.port,
        baud: &s.baud,
        parity: &s.parity,
        data_bits: &s.data_bits,
        stop_bits: &s.stop_bits,
    };
    let line = serial.line(def.span(), report);
    let format = match s.format.get_ref().as_str() {
        "accel_frames" => {
            if let Some(p) = s
                .pattern
                .as_ref()
                .map(Spanned::span)
                .or(s.sensor.as_ref().map(Spanned::span))
            {
                report.error(p, "`pattern` and `sensor` apply to `text_lines` streams; accel_frames streams name their sensors <id>.<axis>.<feature>");
            }
            let window = int_in(&s.window, 1024, 16..=65_536, "window", report)? as usize;
            StreamFormat::AccelFrames { window }
        }
        "text_lines" => {
            if let Some(w) = &s.window {
                report.error(w.span(), "`window` applies to accel_frames streams");
            }
            let Some(pattern) = &s.pattern else {
                report.error(
                    def.span(),
                    "a text_lines stream needs `pattern`, for example \"T={value}C\"",
                );
                return None;
            };
            if pattern.get_ref().matches("{value}").count() != 1 {
                report.error(
                    pattern.span(),
                    "pattern must contain `{value}` exactly once",
                );
                return None;
            }
            let sensor = s.sensor.clone().unwrap_or_else(|| s.id.clone());
            sensors.claim(&sensor, report);
            StreamFormat::TextLines {
                pattern: pattern.get_ref().clone(),
                sensor: sensor.into_inner(),
                unit: s.unit.clone(),
            }
        }
        other => {
            report.error(
                s.format.span(),
                format!("unknown format `{other}`: expected `accel_frames` or `text_lines`"),
            );
            return None;
        }
    };
    Some(Stream {
        id: s.id.get_ref().clone(),
        line: line?,
        format,
    })
}

/// Devices on one serial port share a bus: same line settings, distinct unit ids. Devices
/// behind one TCP address need distinct unit ids too.
pub(super) fn check_buses(
    devices: &[(Span, Device)],
    streams: &[(Span, Stream)],
    report: &mut Reporter<'_>,
) {
    let mut lines: HashMap<&PathBuf, &SerialLine> = HashMap::new();
    let mut units: HashSet<(String, u8)> = HashSet::new();
    for (span, device) in devices {
        let key = match &device.transport {
            Transport::Tcp { address } => address.clone(),
            Transport::Rtu(line) => {
                if let Some(first) = lines.insert(&line.path, line) {
                    if first != line {
                        report.error(span.clone(), format!("device `{}` is on {} with other line settings than an earlier device on that bus", device.id, line.path.display()));
                    }
                }
                line.path.display().to_string()
            }
        };
        if !units.insert((key.clone(), device.unit)) {
            report.error(
                span.clone(),
                format!(
                    "device `{}`: unit {} on {key} is already used by another device",
                    device.id, device.unit
                ),
            );
        }
    }
    for (span, stream) in streams {
        if lines.contains_key(&stream.line.path) {
            report.error(
                span.clone(),
                format!(
                    "stream `{}` is on {}, which a Modbus RTU bus already uses",
                    stream.id,
                    stream.line.path.display()
                ),
            );
        }
    }
}
