//! Reading one poll group from one device over an open `tokio_modbus` client context, shared
//! by TCP devices and RTU buses: every request under a timeout, Modbus exceptions kept apart
//! from link failures (tokio-modbus's `Result<Result<T, ExceptionCode>, Error>`), values
//! decoded as configured.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use tokio_modbus::client::{Context, Reader};
use tokio_modbus::ExceptionCode;
use tokio_util::sync::CancellationToken;

use super::decode;
use super::plan::{plan_reads, Read};
use crate::config::{PollGroup, Register, Table};
use crate::sources::health::Failure;

/// When a group polled at `due` is due next: one interval later, or, if that is already past
/// (the device or bus is too slow for the interval), one interval from now, counted as an
/// overrun: a poll that fell behind skips ahead rather than bursting to catch up.
pub fn next_due(due: Instant, interval: Duration, overruns: &AtomicU64) -> Instant {
    let next = due + interval;
    let now = Instant::now();
    if next < now {
        overruns.fetch_add(1, Ordering::Relaxed);
        now + interval
    } else {
        next
    }
}

/// Waits until `when`; `false` if `shutdown` came first. A time already past returns at once,
/// without the timer: tokio's timer ticks once a millisecond, and waiting on it even for a
/// poll that was already due held a device to about 900 polls a second.
pub async fn wait_until(when: Instant, shutdown: &CancellationToken) -> bool {
    if shutdown.is_cancelled() {
        return false;
    }
    if when <= Instant::now() {
        return true;
    }
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep_until(when) => true,
    }
}

/// A poll group with its reads planned once.
#[derive(Debug, Clone)]
pub struct PlannedGroup {
    pub interval: Duration,
    pub registers: Vec<Register>,
    pub reads: Vec<Read>,
}

impl PlannedGroup {
    pub fn new(group: &PollGroup, merge_reads: bool) -> Self {
        Self {
            interval: group.interval,
            registers: group.registers.clone(),
            reads: plan_reads(&group.registers, merge_reads),
        }
    }
}

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Index into the group's registers.
    pub register: usize,
    pub value: f64,
    /// The raw registers (or bits as 0/1) it was decoded from.
    pub words: Vec<u16>,
}

/// What one poll of a group gave.
#[derive(Debug, Default)]
pub struct GroupOutcome {
    pub values: Vec<Value>,
    /// Failed reads, with the registers each would have served.
    pub failures: Vec<(Failure, Vec<usize>)>,
    /// Registers that a single read found refused with ILLEGAL DATA ADDRESS, after the
    /// merged read they were part of was refused so (see [`poll_group`]).
    pub culprits: Vec<usize>,
}

impl GroupOutcome {
    /// Whether a failure broke the link (the connection should be made again).
    pub fn link_broken(&self) -> bool {
        self.failures.iter().any(|(f, _)| f.breaks_link())
    }
}

/// Polls every read of `group`; stops at the first link failure (the rest would fail too, and
/// a late answer on a broken link would be taken for the next request's).
///
/// A merged read refused with ILLEGAL DATA ADDRESS (exception 2) says only that some address
/// in its range is not mapped: its registers are then read one by one, so that the good ones
/// still give values and the one at fault is named ([`GroupOutcome::culprits`]).
pub async fn poll_group(
    ctx: &mut Context,
    group: &PlannedGroup,
    timeout: Duration,
) -> GroupOutcome {
    let mut outcome = GroupOutcome::default();
    for (i, read) in group.reads.iter().enumerate() {
        let result = read_words(ctx, read, timeout).await;
        let broke = match result {
            Ok(words) => {
                decode_into(group, read, &words, &mut outcome);
                false
            }
            Err(Failure::Exception(ExceptionCode::IllegalDataAddress)) if read.serves.len() > 1 => {
                read_one_by_one(ctx, group, read, timeout, &mut outcome).await
            }
            Err(failure) => {
                let breaks = failure.breaks_link();
                let served: Vec<usize> = read.serves.iter().map(|(r, _)| *r).collect();
                outcome.failures.push((failure, served));
                breaks
            }
        };
        if broke {
            // Everything after it is unread too: report those registers as failed.
            let rest: Vec<usize> = group.reads[i + 1..]
                .iter()
                .flat_map(|r| r.serves.iter().map(|(r, _)| *r))
                .collect();
            if !rest.is_empty() {
                outcome.failures.push((
                    Failure::Transport("not read: the link failed earlier in this poll".into()),
                    rest,
                ));
            }
            break;
        }
    }
    outcome
}

/// Reads each register of `read` alone; `true` if the link broke on the way (the registers
/// not read are then reported failed).
async fn read_one_by_one(
    ctx: &mut Context,
    group: &PlannedGroup,
    read: &Read,
    timeout: Duration,
    outcome: &mut GroupOutcome,
) -> bool {
    for (n, &(register, _)) in read.serves.iter().enumerate() {
        let single = Read::single(&group.registers[register], register);
        match read_words(ctx, &single, timeout).await {
            Ok(words) => decode_into(group, &single, &words, outcome),
            Err(failure) => {
                if failure == Failure::Exception(ExceptionCode::IllegalDataAddress) {
                    outcome.culprits.push(register);
                }
                let breaks = failure.breaks_link();
                outcome.failures.push((failure, vec![register]));
                if breaks {
                    let rest: Vec<usize> = read.serves[n + 1..].iter().map(|(r, _)| *r).collect();
                    if !rest.is_empty() {
                        outcome.failures.push((
                            Failure::Transport(
                                "not read: the link failed earlier in this poll".into(),
                            ),
                            rest,
                        ));
                    }
                    return true;
                }
            }
        }
    }
    false
}

/// One request, as 16-bit words (bits as 0 or 1).
pub async fn read_words(
    ctx: &mut Context,
    read: &Read,
    timeout: Duration,
) -> Result<Vec<u16>, Failure> {
    let (start, count) = (read.start, read.count);
    let request = async {
        match read.table {
            Table::Coils => bits(ctx.read_coils(start, count).await),
            Table::DiscreteInputs => bits(ctx.read_discrete_inputs(start, count).await),
            Table::HoldingRegisters => words(ctx.read_holding_registers(start, count).await),
            Table::InputRegisters => words(ctx.read_input_registers(start, count).await),
        }
    };
    let words = tokio::time::timeout(timeout, request)
        .await
        .map_err(|_| Failure::Timeout)??;
    if words.len() < usize::from(count) {
        return Err(Failure::Decode(format!(
            "asked {count} {} from {start}, got {}",
            if read.table.is_bits() {
                "bits"
            } else {
                "registers"
            },
            words.len()
        )));
    }
    Ok(words)
}

fn words(result: tokio_modbus::Result<Vec<u16>>) -> Result<Vec<u16>, Failure> {
    match result {
        Ok(Ok(words)) => Ok(words),
        Ok(Err(exception)) => Err(Failure::Exception(exception)),
        Err(error) => Err(Failure::Transport(error.to_string())),
    }
}

fn bits(result: tokio_modbus::Result<Vec<bool>>) -> Result<Vec<u16>, Failure> {
    words(result.map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())))
}

fn decode_into(group: &PlannedGroup, read: &Read, words: &[u16], outcome: &mut GroupOutcome) {
    for &(register_index, offset) in &read.serves {
        let register = &group.registers[register_index];
        let width = if register.table.is_bits() {
            1
        } else {
            usize::from(register.value_type.width())
        };
        let slice = &words[usize::from(offset)..usize::from(offset) + width];
        match decode::value(register, slice) {
            Some(value) if value.is_finite() => outcome.values.push(Value {
                register: register_index,
                value,
                words: slice.to_vec(),
            }),
            Some(value) => outcome.failures.push((
                Failure::Decode(format!("{} decodes to {value}", register.sensor)),
                vec![register_index],
            )),
            None => outcome.failures.push((
                Failure::Decode(format!("{} has the wrong width", register.sensor)),
                vec![register_index],
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_for_a_time_already_past_does_not_touch_the_timer() {
        // A runtime without a time driver panics on any timer use: the wait must not need one.
        let no_timer = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let shutdown = CancellationToken::new();
        let past = Instant::now();
        assert!(no_timer.block_on(wait_until(past, &shutdown)));
    }

    #[tokio::test]
    async fn a_wait_ends_at_its_time_or_at_shutdown() {
        let shutdown = CancellationToken::new();
        let start = Instant::now();
        assert!(wait_until(start + Duration::from_millis(30), &shutdown).await);
        assert!(Instant::now() >= start + Duration::from_millis(30));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stop.cancel();
        });
        let far = Instant::now() + Duration::from_secs(3600);
        let waited = tokio::time::timeout(Duration::from_secs(10), wait_until(far, &shutdown));
        assert_eq!(waited.await, Ok(false), "shutdown ends the wait");
        assert!(
            !wait_until(Instant::now(), &shutdown).await,
            "cancelled stays cancelled"
        );
    }
}
