//! Schedules other than fixed intervals. Owns the parsing and the next-firing arithmetic only;
//! the scheduler owns the timers.

pub mod cron;
