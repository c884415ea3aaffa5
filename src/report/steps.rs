//! A scenario's verifications as one JSON document: a lab without steps prints its one
//! verification as it is; a lab with steps prints each state's, named by its step.

use crate::probe::Verification;
use serde::Serialize;

#[derive(Serialize)]
#[serde(untagged)]
pub enum Json<'v> {
    One(&'v Verification),
    Steps { lab: &'v str, passed: bool, steps: Vec<StepJson<'v>> },
}

#[derive(Serialize)]
pub struct StepJson<'v> {
    pub step: &'v str,
    #[serde(flatten)]
    pub verification: &'v Verification,
}

pub fn json<'v>(checked: Vec<(Option<&'v str>, &'v Verification)>) -> Json<'v> {
    match checked.as_slice() {
        [(None, verification)] => Json::One(verification),
        _ => Json::Steps {
            lab: checked.first().map_or("", |(_, v)| v.lab.as_str()),
            passed: checked.iter().all(|(_, v)| v.passed()),
            steps: checked
                .iter()
                .map(|(step, verification)| StepJson { step: step.unwrap_or(""), verification })
                .collect(),
        },
    }
}
