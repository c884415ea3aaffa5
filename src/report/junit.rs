//! Verifications as JUnit XML for CI systems: one test suite per state of the lab (its
//! initial state and each step), one test case per expectation.

use crate::probe::Verification;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

pub fn render(checked: &[(Option<&str>, &Verification)]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("lab verify");
    for (step, verification) in checked {
        report.add_test_suite(suite(*step, verification));
    }
    report.to_string()
}

fn suite(step: Option<&str>, verification: &Verification) -> TestSuite {
    let name = match step {
        Some(step) => format!("{} / {step}", verification.lab),
        None => verification.lab.clone(),
    };
    let mut suite = TestSuite::new(name);
    suite.set_time(verification.elapsed);
    for o in &verification.outcomes {
        let status = if o.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("expected {}; observed {}", o.expected, o.observed));
            if let Some(why) = &o.why {
                status.set_description(why.clone());
            }
            status
        };
        let mut case = TestCase::new(format!("#{} {}", o.number, o.check), status);
        case.set_classname(format!("{}:line {}", verification.lab, o.line));
        suite.add_test_case(case);
    }
    suite
}
