//! How the agent's process uses glibc's malloc, tuned for a gateway with little memory.
//! Measured with `scripts/bench-modbus.sh` (README, "Modbus load"); all of it is a no-op
//! where the C library is not glibc.
//!
//! - **One arena.** glibc gives each thread that allocates an arena of its own, up to eight
//!   per core, and each arena keeps what was freed in it. The agent runs about fifteen
//!   threads (tokio's workers and blocking pool, sled's I/O threads and flusher), and an event
//!   is often allocated on one thread and freed on another. At 20,000 readings a second the
//!   extra arenas held tens of MiB. Small allocations still come from per-thread caches,
//!   without the arena's lock; the benchmark's CPU figures include this setting.
//! - **A fixed mmap threshold.** glibc serves an allocation of 128 KiB or more with pages of
//!   its own, zero and untouched until written, but raises that threshold to the size of any
//!   such block that is freed. A large zeroed allocation made after that, such as sled's
//!   6 MiB page table that is mostly never written, then comes from the heap, where zeroing
//!   it makes every page resident. Measured: with the threshold left to glibc, changing the
//!   TOML parser alone moved the agent from 22 to 29 MiB; with it fixed, back to 22.
//! - **A configuration packed, and the parser's memory given back.** Parsing a large
//!   configuration (2,000 registers) peaks at several MiB. The configuration that is kept is
//!   allocated among the parser's temporary allocations, so once those are freed, its small
//!   pieces still pin most of those pages: measured, the sources alone then took 6.4 MiB of
//!   heap instead of 4.2. [`settle`] copies the configuration into fresh, packed allocations,
//!   drops the scattered original and has glibc return every free page (`malloc_trim`).
//!
//! An operator who sets `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` keeps their setting.

/// Allocations from this size up get pages of their own from the kernel (glibc's initial
/// default, fixed; see the module docs).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Limits glibc's malloc to one arena and fixes its mmap threshold, unless the environment
/// already tunes malloc. Call it first thing, before any thread is started.
pub fn tune_malloc() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tunable of the allocator; it takes no pointer and has no
        // precondition. Called before other threads exist, so no arena is in use but main's.
        #[allow(unsafe_code)]
        let _accepted = unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        };
    }
}

/// `value`, moved into fresh allocations, with what building it left behind given back to the
/// kernel (see the module docs). For a value that lives as long as the process, built once
/// at startup.
pub fn settle<T: Clone>(value: T) -> T {
    let packed = value.clone();
    drop(value);
    release_free_memory();
    packed
}

/// Returns the allocator's free pages to the kernel. Costs one pass over the heap's free
/// lists: call it after startup, not on a hot path.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointer and has no precondition; it only gives free
        // pages back (madvise) under the allocator's own locks.
        #[allow(unsafe_code)]
        let _released = unsafe { libc::malloc_trim(0) };
    }
}
