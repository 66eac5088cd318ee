//! The CPU budget: how many threads the tool runs at once, decided in one place.
//!
//! Work is split into jobs (an arch to build, a package file to read). `share` gives how
//! many jobs run at once and how many threads each job may use inside itself (xz's block
//! threads), so that together they never ask for more threads than there are cores.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The cores this process may run on.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How `jobs` jobs share the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// Jobs running at once.
    pub workers: usize,
    /// Threads each job may use for itself.
    pub threads_per_job: usize,
}

pub fn share(jobs: usize) -> Share {
    share_of(cores(), jobs)
}

fn share_of(cores: usize, jobs: usize) -> Share {
    let workers = cores.min(jobs).max(1);
    Share {
        workers,
        threads_per_job: (cores / workers).max(1),
    }
}

/// Runs `work` on every item on `workers` threads, taking items in order as threads come
/// free; the results come back in input order.
pub fn map<T: Sync, R: Send>(items: &[T], workers: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = workers.min(items.len()).max(1);
    if workers == 1 {
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = work(item);
                results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(result);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_their_threads_never_exceed_the_cores() {
        assert_eq!(
            share_of(2, 5),
            Share {
                workers: 2,
                threads_per_job: 1
            }
        );
        assert_eq!(
            share_of(2, 1),
            Share {
                workers: 1,
                threads_per_job: 2
            }
        );
        assert_eq!(
            share_of(8, 3),
            Share {
                workers: 3,
                threads_per_job: 2
            }
        );
        assert_eq!(
            share_of(1, 0),
            Share {
                workers: 1,
                threads_per_job: 1
            }
        );
    }

    #[test]
    fn results_keep_the_input_order() {
        let items: Vec<u64> = (0..100).collect();
        let squares = map(&items, 4, |&i| {
            // Uneven work, so threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros((100 - i) * 10));
            i * i
        });
        assert_eq!(squares, items.iter().map(|i| i * i).collect::<Vec<_>>());
        assert!(map(&[] as &[u8], 4, |_| 0).is_empty());
    }
}
