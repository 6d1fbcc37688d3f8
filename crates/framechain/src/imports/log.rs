//! The `log` import: a stage's lines go through its instance's allowance
//! ([`StageState::log_line`]).

use wasmtime::Result;

use crate::bindings::LogLevel;
use crate::stage_state::StageState;

impl crate::bindings::framechain::stage::log::Host for StageState {
    fn log(&mut self, level: LogLevel, message: String) -> Result<()> {
        self.log_line(level, &message);
        Ok(())
    }
}
