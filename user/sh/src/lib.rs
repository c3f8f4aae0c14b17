//! # sh — Tine's user shell, its pure half
//!
//! The shell (`/bin/sh`, `src/main.rs`) runs on Tine (and on Linux: it
//! speaks the Linux ABI). Everything in it that does not need the kernel
//! lives in this library, which also builds for the host and is tested
//! there:
//!
//! - [`parse`]: the tokenizer (quotes, escapes, operators) and the parser
//!   of a command line into jobs, pipelines and redirections;
//! - [`edit`]: the line editor, a state machine fed one byte at a time
//!   that answers with the bytes to echo (cursor moves, redraws, history);
//! - [`errno`] and [`signal`]: names of error and signal numbers, both
//!   ways;
//! - [`wstatus`]: Linux wait statuses decoded;
//! - [`rflags`]: FreeBSD's `RF*` rfork flags by name (Tine's values);
//! - [`records`]: what the shell draws from the records of Tine's
//!   information calls (`ps -T`, `pstree`, the `trace` view of fork
//!   events); the records and their decoding are the `abi` crate's
//!   (`abi::record`).
//!
//! `docs/shell.md` describes the shell as a user sees it.
#![cfg_attr(target_os = "none", no_std)]

extern crate alloc;

pub mod edit;
pub mod errno;
pub mod parse;
pub mod records;
pub mod rflags;
pub mod signal;
pub mod wstatus;
