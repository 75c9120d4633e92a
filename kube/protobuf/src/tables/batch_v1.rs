//! Descriptors of the `batch/v1` messages: Job, CronJob and their parts.
//!
//! Field numbers are those of k8s.io/api's `batch/v1` protobuf definitions; the flags follow the Go
//! struct tags (see [`crate::descriptor`]).

use super::{core_v1, meta_v1};

message! { CRON_JOB = "CronJob" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(CRON_JOB_SPEC) omit;
    3 "status" msg(CRON_JOB_STATUS) omit;
}}
message! { CRON_JOB_SPEC = "CronJobSpec" {
    1 "schedule" str; 2 "startingDeadlineSeconds" i64 omit ptr; 3 "concurrencyPolicy" str omit;
    4 "suspend" bool omit ptr; 5 "jobTemplate" msg(JOB_TEMPLATE_SPEC);
    6 "successfulJobsHistoryLimit" i32 omit ptr; 7 "failedJobsHistoryLimit" i32 omit ptr;
    8 "timeZone" str omit ptr;
}}
message! { CRON_JOB_STATUS = "CronJobStatus" {
    1 "active" msg(core_v1::OBJECT_REFERENCE) list omit; 4 "lastScheduleTime" time omit ptr;
    5 "lastSuccessfulTime" time omit ptr;
}}
message! { JOB = "Job" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(JOB_SPEC) omit;
    3 "status" msg(JOB_STATUS) omit;
}}
message! { JOB_CONDITION = "JobCondition" {
    1 "type" str; 2 "status" str; 3 "lastProbeTime" time omit; 4 "lastTransitionTime" time omit;
    5 "reason" str omit; 6 "message" str omit;
}}
message! { JOB_SPEC = "JobSpec" {
    1 "parallelism" i32 omit ptr; 2 "completions" i32 omit ptr;
    3 "activeDeadlineSeconds" i64 omit ptr; 4 "selector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    5 "manualSelector" bool omit ptr; 6 "template" msg(core_v1::POD_TEMPLATE_SPEC);
    7 "backoffLimit" i32 omit ptr; 8 "ttlSecondsAfterFinished" i32 omit ptr;
    9 "completionMode" str omit ptr; 10 "suspend" bool omit ptr;
    11 "podFailurePolicy" msg(POD_FAILURE_POLICY) omit ptr;
    12 "backoffLimitPerIndex" i32 omit ptr; 13 "maxFailedIndexes" i32 omit ptr;
    14 "podReplacementPolicy" str omit ptr; 15 "managedBy" str omit ptr;
    16 "successPolicy" msg(SUCCESS_POLICY) omit ptr;
}}
message! { JOB_STATUS = "JobStatus" {
    1 "conditions" msg(JOB_CONDITION) list omit; 2 "startTime" time omit ptr;
    3 "completionTime" time omit ptr; 4 "active" i32 omit; 5 "succeeded" i32 omit;
    6 "failed" i32 omit; 7 "completedIndexes" str omit;
    8 "uncountedTerminatedPods" msg(UNCOUNTED_TERMINATED_PODS) omit ptr; 9 "ready" i32 omit ptr;
    10 "failedIndexes" str omit ptr; 11 "terminating" i32 omit ptr;
}}
message! { JOB_TEMPLATE_SPEC = "JobTemplateSpec" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(JOB_SPEC) omit;
}}
message! { POD_FAILURE_POLICY = "PodFailurePolicy" {
    1 "rules" msg(POD_FAILURE_POLICY_RULE) list;
}}
message! { POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT = "PodFailurePolicyOnExitCodesRequirement" {
    1 "containerName" str omit ptr; 2 "operator" str; 3 "values" i32 list;
}}
message! { POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN = "PodFailurePolicyOnPodConditionsPattern" {
    1 "type" str; 2 "status" str;
}}
message! { POD_FAILURE_POLICY_RULE = "PodFailurePolicyRule" {
    1 "action" str; 2 "onExitCodes" msg(POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT) omit ptr;
    3 "onPodConditions" msg(POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN) list omit;
}}
message! { SUCCESS_POLICY = "SuccessPolicy" {
    1 "rules" msg(SUCCESS_POLICY_RULE) list;
}}
message! { SUCCESS_POLICY_RULE = "SuccessPolicyRule" {
    1 "succeededIndexes" str omit ptr; 2 "succeededCount" i32 omit ptr;
}}
message! { UNCOUNTED_TERMINATED_PODS = "UncountedTerminatedPods" {
    1 "succeeded" str list omit; 2 "failed" str list omit;
}}
