//! Reading recorded data: a CSV file in one of three shapes, turned into samples in file order.
//!
//! - **Single**: a header, then `timestamp,value`. The sensor is named by the value column's
//!   header (or by `--sensor`).
//! - **Long**: a header `timestamp,sensor,value`: one sample per row, any number of sensors.
//! - **Wide**: a timestamp column (the first, or one named `timestamp`, `datetime` or `time`)
//!   and one column per sensor; `--sensor` picks the columns.
//!
//! The delimiter is a comma or a semicolon, whichever the header uses more. Recorded data is
//! messy, so nothing here fails on a row: a row whose timestamp does not parse is counted and
//! skipped, a cell that is empty or not a number is counted and skipped, and the rest of the row
//! still counts. Only a file that cannot be read, or has no header, is an error.

use std::collections::HashSet;
use std::io::Read;

use thiserror::Error;

use super::timestamp;

/// One sample of one sensor, from data row `row` (0-based, the header not counted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub row: u64,
    pub ts_ms: i64,
    /// Index into [`CsvSamples::sensors`] for wide and single files; for long files the
    /// sensor is in `long_sensor`.
    pub sensor: usize,
    pub value: f64,
}

/// What was skipped, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InputCounters {
    pub rows: u64,
    pub bad_timestamps: u64,
    pub bad_values: u64,
    pub empty_cells: u64,
    /// Rows with fewer or more cells than the header.
    pub ragged_rows: u64,
}

#[derive(Debug, Error)]
pub enum InputError {
    #[error("the input is empty: expected a header line such as `timestamp,value`")]
    Empty,
    #[error("the header has {0} column(s): expected at least a timestamp and a value column")]
    TooFewColumns(usize),
    #[error("--sensor names column `{0}`, which the header does not have (columns: {1})")]
    UnknownColumn(String, String),
    #[error("--exclude names column `{0}`, which the header does not have (columns: {1})")]
    UnknownExcluded(String, String),
    #[error("cannot read the input: {0}")]
    Csv(#[from] csv::Error),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// Timestamp column, and the (column index, sensor index) of each selected sensor column.
    Wide {
        ts: usize,
        columns: Vec<(usize, usize)>,
    },
    Long,
}

/// Samples of a CSV file, in file order; see the module docs.
pub struct CsvSamples<R: Read> {
    records: csv::ByteRecordsIntoIter<R>,
    shape: Shape,
    sensors: Vec<String>,
    counters: InputCounters,
    pending: std::vec::IntoIter<Sample>,
    /// Long form: sensor names as they appear, indexed by `Sample::sensor`.
    long_names: Vec<String>,
    next_row: u64,
    /// Long form: sensors never replayed.
    excluded: Vec<String>,
}

impl<R: Read> std::fmt::Debug for CsvSamples<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvSamples")
            .field("shape", &self.shape)
            .field("counters", &self.counters)
            .finish()
    }
}

impl<R: Read> CsvSamples<R> {
    /// Reads the header of `input`; `selected` are `--sensor` names (empty: every column),
    /// `excluded` are `--exclude` names (columns, or sensors of a long file, never replayed).
    pub fn new(mut input: R, selected: &[String], excluded: &[String]) -> Result<Self, InputError> {
        let mut head = Vec::new();
        // The header decides the delimiter; read it byte by byte so nothing is consumed past it.
        let mut byte = [0u8; 1];
        while input.read(&mut byte).map_err(csv::Error::from)? == 1 {
            if byte[0] == b'\n' {
                break;
            }
            head.push(byte[0]);
        }
        let header_line = String::from_utf8_lossy(&head)
            .trim_end_matches('\r')
            .to_string();
        if header_line.trim().is_empty() {
            return Err(InputError::Empty);
        }
        let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() {
            b';'
        } else {
            b','
        };
        let header: Vec<String> = header_line
            .split(delimiter as char)
            .map(|h| h.trim().trim_matches('"').to_string())
            .collect();
        if header.len() < 2 {
            return Err(InputError::TooFewColumns(header.len()));
        }
        let records = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(input)
            .into_byte_records();
        let (shape, sensors) = shape_of(&header, selected, excluded)?;
        Ok(Self {
            excluded: excluded.to_vec(),
            records,
            shape,
            sensors,
            counters: InputCounters::default(),
            pending: Vec::new().into_iter(),
            long_names: Vec::new(),
            next_row: 0,
        })
    }

    /// The sensors of a wide or single file, indexed by `Sample::sensor`; for a long file, the
    /// sensors seen so far.
    pub fn sensor_name(&self, index: usize) -> &str {
        match self.shape {
            Shape::Long => &self.long_names[index],
            Shape::Wide { .. } => &self.sensors[index],
        }
    }

    /// The sensor columns of a wide or single file, in header order; empty for a long file,
    /// whose sensors are known only as they come.
    pub fn columns(&self) -> &[String] {
        match self.shape {
            Shape::Long => &[],
            Shape::Wide { .. } => &self.sensors,
        }
    }

    pub fn counters(&self) -> InputCounters {
        self.counters
    }

    fn samples_of(&mut self, record: &csv::ByteRecord) -> Vec<Sample> {
        let row = self.next_row;
        self.next_row += 1;
        self.counters.rows += 1;
        let cell = |i: usize| {
            record
                .get(i)
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let ts_column = match &self.shape {
            Shape::Wide { ts, .. } => *ts,
            Shape::Long => 0,
        };
        let Some(ts_ms) = cell(ts_column).as_deref().and_then(timestamp::parse_ms) else {
            self.counters.bad_timestamps += 1;
            return Vec::new();
        };
        match self.shape.clone() {
            Shape::Wide { columns, .. } => {
                let mut samples = Vec::with_capacity(columns.len());
                for (column, sensor) in columns {
                    if let Some(value) = self.value_of(cell(column)) {
                        samples.push(Sample {
                            row,
                            ts_ms,
                            sensor,
                            value,
                        });
                    }
                }
                samples
            }
            Shape::Long => {
                let name = cell(1).unwrap_or_default();
                let Some(value) = self.value_of(cell(2)) else {
                    return Vec::new();
                };
                if name.is_empty()
                    || (!self.sensors.is_empty() && !self.sensors.contains(&name))
                    || self.excluded.contains(&name)
                {
                    return Vec::new();
                }
                let sensor = match self.long_names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        self.long_names.push(name);
                        self.long_names.len() - 1
                    }
                };
                vec![Sample {
                    row,
                    ts_ms,
                    sensor,
                    value,
                }]
            }
        }
    }

    /// A cell's value, counting what is missing or not a number. NaN and infinities written
    /// out in the file are passed on: the engine rejects and counts them itself.
    fn value_of(&mut self, cell: Option<String>) -> Option<f64> {
        match cell.as_deref().map(str::trim) {
            None | Some("") => {
                self.counters.empty_cells += 1;
                None
            }
            Some(text) => text.parse::<f64>().ok().or_else(|| {
                self.counters.bad_values += 1;
                None
            }),
        }
    }
}

impl<R: Read> Iterator for CsvSamples<R> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        loop {
            if let Some(sample) = self.pending.next() {
                return Some(sample);
            }
            let record = match self.records.next()? {
                Ok(record) => record,
                // A row the CSV parser itself cannot split (an unterminated quote) is a bad row.
                Err(_) => {
                    self.counters.rows += 1;
                    self.next_row += 1;
                    self.counters.ragged_rows += 1;
                    continue;
                }
            };
            if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
                continue; // blank line
            }
            let expected = match &self.shape {
                Shape::Long => 3,
                Shape::Wide { .. } => 0,
            };
            if expected != 0 && record.len() != expected {
                self.counters.ragged_rows += 1;
            }
            self.pending = self.samples_of(&record).into_iter();
        }
    }
}

fn shape_of(
    header: &[String],
    selected: &[String],
    excluded: &[String],
) -> Result<(Shape, Vec<String>), InputError> {
    let lower: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    if header.len() == 3 && lower[1] == "sensor" {
        return Ok((Shape::Long, selected.to_vec()));
    }
    if let Some(unknown) = excluded.iter().find(|name| !header.contains(name)) {
        return Err(InputError::UnknownExcluded(
            unknown.clone(),
            header.join(", "),
        ));
    }
    let ts = ["timestamp", "datetime", "time"]
        .iter()
        .find_map(|name| lower.iter().position(|h| h == name))
        .unwrap_or(0);
    let value_columns: Vec<usize> = (0..header.len()).filter(|&i| i != ts).collect();
    if header.len() == 2 && selected.len() == 1 {
        // Single form: `--sensor` names the one sensor, whatever its column is called.
        return Ok((
            Shape::Wide {
                ts,
                columns: vec![(value_columns[0], 0)],
            },
            selected.to_vec(),
        ));
    }
    let picked: Vec<usize> = if selected.is_empty() {
        value_columns
            .into_iter()
            .filter(|&i| !excluded.contains(&header[i]))
            .collect()
    } else {
        let mut seen = HashSet::new();
        selected
            .iter()
            .filter(|name| seen.insert(name.as_str()))
            .map(|name| {
                header
                    .iter()
                    .position(|h| h == name)
                    .ok_or_else(|| InputError::UnknownColumn(name.clone(), header.join(", ")))
            })
            .collect::<Result<Vec<usize>, _>>()?
            .into_iter()
            .filter(|&i| !excluded.contains(&header[i]))
            .collect()
    };
    let sensors = picked.iter().map(|&i| header[i].clone()).collect();
    let columns = picked
        .into_iter()
        .enumerate()
        .map(|(sensor, column)| (column, sensor))
        .collect();
    Ok((Shape::Wide { ts, columns }, sensors))
}
