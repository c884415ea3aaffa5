//! A verification as JUnit XML, one test case per expectation, for CI systems.

use crate::probe::Verification;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

pub fn render(verification: &Verification) -> Result<String, quick_junit::SerializeError> {
    let mut suite = TestSuite::new(verification.lab.clone());
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
    let mut report = Report::new("lab verify");
    report.add_test_suite(suite);
    report.to_string()
}
