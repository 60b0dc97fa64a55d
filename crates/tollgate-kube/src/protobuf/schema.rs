//! Field numbers, JSON names and types of the Kubernetes protobuf messages
//! the testkit decodes, from the API's `generated.proto` files
//! (k8s.io/api core, apps, batch and rbac v1; k8s.io/apimachinery meta v1):
//! the transitive closure of the kinds kubectl's typed clients create.
//! Generated data, not logic: the decoder is in `mod.rs`.

/// `(message, [(field number, JSON name, type, repeated)])`, sorted by
/// message. A type is a scalar (`string`, `bytes`, `bool`, `int32`,
/// `int64`, `double`), a message's full name, or `map:` and the map's value type.
pub(crate) const MESSAGES: &[(&str, super::Fields)] = &[
    (
        "k8s.io.api.apps.v1.DaemonSet",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.apps.v1.DaemonSetSpec", false),
            (3, "status", "k8s.io.api.apps.v1.DaemonSetStatus", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DaemonSetCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (
                3,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (4, "reason", "string", false),
            (5, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DaemonSetSpec",
        &[
            (
                1,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (2, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (3, "updateStrategy", "k8s.io.api.apps.v1.DaemonSetUpdateStrategy", false),
            (4, "minReadySeconds", "int32", false),
            (6, "revisionHistoryLimit", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DaemonSetStatus",
        &[
            (1, "currentNumberScheduled", "int32", false),
            (2, "numberMisscheduled", "int32", false),
            (3, "desiredNumberScheduled", "int32", false),
            (4, "numberReady", "int32", false),
            (5, "observedGeneration", "int64", false),
            (6, "updatedNumberScheduled", "int32", false),
            (7, "numberAvailable", "int32", false),
            (8, "numberUnavailable", "int32", false),
            (9, "collisionCount", "int32", false),
            (10, "conditions", "k8s.io.api.apps.v1.DaemonSetCondition", true),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DaemonSetUpdateStrategy",
        &[
            (1, "type", "string", false),
            (2, "rollingUpdate", "k8s.io.api.apps.v1.RollingUpdateDaemonSet", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.Deployment",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.apps.v1.DeploymentSpec", false),
            (3, "status", "k8s.io.api.apps.v1.DeploymentStatus", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (4, "reason", "string", false),
            (5, "message", "string", false),
            (6, "lastUpdateTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (
                7,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentSpec",
        &[
            (1, "replicas", "int32", false),
            (
                2,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (3, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (4, "strategy", "k8s.io.api.apps.v1.DeploymentStrategy", false),
            (5, "minReadySeconds", "int32", false),
            (6, "revisionHistoryLimit", "int32", false),
            (7, "paused", "bool", false),
            (9, "progressDeadlineSeconds", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentStatus",
        &[
            (1, "observedGeneration", "int64", false),
            (2, "replicas", "int32", false),
            (3, "updatedReplicas", "int32", false),
            (4, "availableReplicas", "int32", false),
            (5, "unavailableReplicas", "int32", false),
            (6, "conditions", "k8s.io.api.apps.v1.DeploymentCondition", true),
            (7, "readyReplicas", "int32", false),
            (8, "collisionCount", "int32", false),
            (9, "terminatingReplicas", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.DeploymentStrategy",
        &[
            (1, "type", "string", false),
            (2, "rollingUpdate", "k8s.io.api.apps.v1.RollingUpdateDeployment", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.ReplicaSet",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.apps.v1.ReplicaSetSpec", false),
            (3, "status", "k8s.io.api.apps.v1.ReplicaSetStatus", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.ReplicaSetCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (
                3,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (4, "reason", "string", false),
            (5, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.ReplicaSetSpec",
        &[
            (1, "replicas", "int32", false),
            (
                2,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (3, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (4, "minReadySeconds", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.ReplicaSetStatus",
        &[
            (1, "replicas", "int32", false),
            (2, "fullyLabeledReplicas", "int32", false),
            (3, "observedGeneration", "int64", false),
            (4, "readyReplicas", "int32", false),
            (5, "availableReplicas", "int32", false),
            (6, "conditions", "k8s.io.api.apps.v1.ReplicaSetCondition", true),
            (7, "terminatingReplicas", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.RollingUpdateDaemonSet",
        &[
            (
                1,
                "maxUnavailable",
                "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                false,
            ),
            (2, "maxSurge", "k8s.io.apimachinery.pkg.util.intstr.IntOrString", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.RollingUpdateDeployment",
        &[
            (
                1,
                "maxUnavailable",
                "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                false,
            ),
            (2, "maxSurge", "k8s.io.apimachinery.pkg.util.intstr.IntOrString", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.RollingUpdateStatefulSetStrategy",
        &[
            (1, "partition", "int32", false),
            (
                2,
                "maxUnavailable",
                "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSet",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.apps.v1.StatefulSetSpec", false),
            (3, "status", "k8s.io.api.apps.v1.StatefulSetStatus", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (
                3,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (4, "reason", "string", false),
            (5, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetOrdinals",
        &[(1, "start", "int32", false)],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
        &[(1, "whenDeleted", "string", false), (2, "whenScaled", "string", false)],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetSpec",
        &[
            (1, "replicas", "int32", false),
            (
                2,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (3, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (
                4,
                "volumeClaimTemplates",
                "k8s.io.api.core.v1.PersistentVolumeClaim",
                true,
            ),
            (5, "serviceName", "string", false),
            (6, "podManagementPolicy", "string", false),
            (
                7,
                "updateStrategy",
                "k8s.io.api.apps.v1.StatefulSetUpdateStrategy",
                false,
            ),
            (8, "revisionHistoryLimit", "int32", false),
            (9, "minReadySeconds", "int32", false),
            (
                10,
                "persistentVolumeClaimRetentionPolicy",
                "k8s.io.api.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicy",
                false,
            ),
            (11, "ordinals", "k8s.io.api.apps.v1.StatefulSetOrdinals", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetStatus",
        &[
            (1, "observedGeneration", "int64", false),
            (2, "replicas", "int32", false),
            (3, "readyReplicas", "int32", false),
            (4, "currentReplicas", "int32", false),
            (5, "updatedReplicas", "int32", false),
            (6, "currentRevision", "string", false),
            (7, "updateRevision", "string", false),
            (9, "collisionCount", "int32", false),
            (10, "conditions", "k8s.io.api.apps.v1.StatefulSetCondition", true),
            (11, "availableReplicas", "int32", false),
        ],
    ),
    (
        "k8s.io.api.apps.v1.StatefulSetUpdateStrategy",
        &[
            (1, "type", "string", false),
            (
                2,
                "rollingUpdate",
                "k8s.io.api.apps.v1.RollingUpdateStatefulSetStrategy",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.batch.v1.CronJob",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.batch.v1.CronJobSpec", false),
            (3, "status", "k8s.io.api.batch.v1.CronJobStatus", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.CronJobSpec",
        &[
            (1, "schedule", "string", false),
            (2, "startingDeadlineSeconds", "int64", false),
            (3, "concurrencyPolicy", "string", false),
            (4, "suspend", "bool", false),
            (5, "jobTemplate", "k8s.io.api.batch.v1.JobTemplateSpec", false),
            (6, "successfulJobsHistoryLimit", "int32", false),
            (7, "failedJobsHistoryLimit", "int32", false),
            (8, "timeZone", "string", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.CronJobStatus",
        &[
            (1, "active", "k8s.io.api.core.v1.ObjectReference", true),
            (
                4,
                "lastScheduleTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (
                5,
                "lastSuccessfulTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.batch.v1.Job",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.batch.v1.JobSpec", false),
            (3, "status", "k8s.io.api.batch.v1.JobStatus", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (3, "lastProbeTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (
                4,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (5, "reason", "string", false),
            (6, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobSchedulingConfiguration",
        &[
            (1, "schedulingPolicy", "unknown", false),
            (2, "schedulingConstraints", "unknown", false),
            (3, "disruptionMode", "unknown", false),
            (4, "resourceClaims", "unknown", true),
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobSpec",
        &[
            (1, "parallelism", "int32", false),
            (2, "completions", "int32", false),
            (3, "activeDeadlineSeconds", "int64", false),
            (
                4,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (5, "manualSelector", "bool", false),
            (6, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (7, "backoffLimit", "int32", false),
            (8, "ttlSecondsAfterFinished", "int32", false),
            (9, "completionMode", "string", false),
            (10, "suspend", "bool", false),
            (11, "podFailurePolicy", "k8s.io.api.batch.v1.PodFailurePolicy", false),
            (12, "backoffLimitPerIndex", "int32", false),
            (13, "maxFailedIndexes", "int32", false),
            (14, "podReplacementPolicy", "string", false),
            (15, "managedBy", "string", false),
            (16, "successPolicy", "k8s.io.api.batch.v1.SuccessPolicy", false),
            (
                17,
                "scheduling",
                "k8s.io.api.batch.v1.JobSchedulingConfiguration",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobStatus",
        &[
            (1, "conditions", "k8s.io.api.batch.v1.JobCondition", true),
            (2, "startTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (3, "completionTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (4, "active", "int32", false),
            (5, "succeeded", "int32", false),
            (6, "failed", "int32", false),
            (7, "completedIndexes", "string", false),
            (
                8,
                "uncountedTerminatedPods",
                "k8s.io.api.batch.v1.UncountedTerminatedPods",
                false,
            ),
            (9, "ready", "int32", false),
            (10, "failedIndexes", "string", false),
            (11, "terminating", "int32", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.JobTemplateSpec",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.batch.v1.JobSpec", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicy",
        &[(1, "rules", "k8s.io.api.batch.v1.PodFailurePolicyRule", true)],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &[
            (1, "containerName", "string", false),
            (2, "operator", "string", false),
            (3, "values", "int32", true),
        ],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyOnPodConditionsPattern",
        &[(1, "type", "string", false), (2, "status", "string", false)],
    ),
    (
        "k8s.io.api.batch.v1.PodFailurePolicyRule",
        &[
            (1, "action", "string", false),
            (
                2,
                "onExitCodes",
                "k8s.io.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
                false,
            ),
            (
                3,
                "onPodConditions",
                "k8s.io.api.batch.v1.PodFailurePolicyOnPodConditionsPattern",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.batch.v1.SuccessPolicy",
        &[(1, "rules", "k8s.io.api.batch.v1.SuccessPolicyRule", true)],
    ),
    (
        "k8s.io.api.batch.v1.SuccessPolicyRule",
        &[
            (1, "succeededIndexes", "string", false),
            (2, "succeededCount", "int32", false),
        ],
    ),
    (
        "k8s.io.api.batch.v1.UncountedTerminatedPods",
        &[(1, "succeeded", "string", true), (2, "failed", "string", true)],
    ),
    (
        "k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource",
        &[
            (1, "volumeID", "string", false),
            (2, "fsType", "string", false),
            (3, "partition", "int32", false),
            (4, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Affinity",
        &[
            (1, "nodeAffinity", "k8s.io.api.core.v1.NodeAffinity", false),
            (2, "podAffinity", "k8s.io.api.core.v1.PodAffinity", false),
            (3, "podAntiAffinity", "k8s.io.api.core.v1.PodAntiAffinity", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.AppArmorProfile",
        &[(1, "type", "string", false), (2, "localhostProfile", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.AzureDiskVolumeSource",
        &[
            (1, "diskName", "string", false),
            (2, "diskURI", "string", false),
            (3, "cachingMode", "string", false),
            (4, "fsType", "string", false),
            (5, "readOnly", "bool", false),
            (6, "kind", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.AzureFileVolumeSource",
        &[
            (1, "secretName", "string", false),
            (2, "shareName", "string", false),
            (3, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.CSIVolumeSource",
        &[
            (1, "driver", "string", false),
            (2, "readOnly", "bool", false),
            (3, "fsType", "string", false),
            (4, "volumeAttributes", "map:string", false),
            (
                5,
                "nodePublishSecretRef",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.Capabilities",
        &[(1, "add", "string", true), (2, "drop", "string", true)],
    ),
    (
        "k8s.io.api.core.v1.CephFSVolumeSource",
        &[
            (1, "monitors", "string", true),
            (2, "path", "string", false),
            (3, "user", "string", false),
            (4, "secretFile", "string", false),
            (5, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
            (6, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.CinderVolumeSource",
        &[
            (1, "volumeID", "string", false),
            (2, "fsType", "string", false),
            (3, "readOnly", "bool", false),
            (4, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ClusterTrustBundleProjection",
        &[
            (1, "name", "string", false),
            (2, "signerName", "string", false),
            (
                3,
                "labelSelector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (4, "path", "string", false),
            (5, "optional", "bool", false),
            (6, "user", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ConfigMap",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "data", "map:string", false),
            (3, "binaryData", "map:bytes", false),
            (4, "immutable", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ConfigMapEnvSource",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ConfigMapKeySelector",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "key", "string", false),
            (3, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ConfigMapProjection",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "items", "k8s.io.api.core.v1.KeyToPath", true),
            (4, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ConfigMapVolumeSource",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "items", "k8s.io.api.core.v1.KeyToPath", true),
            (3, "defaultMode", "int32", false),
            (4, "optional", "bool", false),
            (5, "defaultUser", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Container",
        &[
            (1, "name", "string", false),
            (2, "image", "string", false),
            (3, "command", "string", true),
            (4, "args", "string", true),
            (5, "workingDir", "string", false),
            (6, "ports", "k8s.io.api.core.v1.ContainerPort", true),
            (7, "env", "k8s.io.api.core.v1.EnvVar", true),
            (8, "resources", "k8s.io.api.core.v1.ResourceRequirements", false),
            (9, "volumeMounts", "k8s.io.api.core.v1.VolumeMount", true),
            (10, "livenessProbe", "k8s.io.api.core.v1.Probe", false),
            (11, "readinessProbe", "k8s.io.api.core.v1.Probe", false),
            (12, "lifecycle", "k8s.io.api.core.v1.Lifecycle", false),
            (13, "terminationMessagePath", "string", false),
            (14, "imagePullPolicy", "string", false),
            (15, "securityContext", "k8s.io.api.core.v1.SecurityContext", false),
            (16, "stdin", "bool", false),
            (17, "stdinOnce", "bool", false),
            (18, "tty", "bool", false),
            (19, "envFrom", "k8s.io.api.core.v1.EnvFromSource", true),
            (20, "terminationMessagePolicy", "string", false),
            (21, "volumeDevices", "k8s.io.api.core.v1.VolumeDevice", true),
            (22, "startupProbe", "k8s.io.api.core.v1.Probe", false),
            (23, "resizePolicy", "k8s.io.api.core.v1.ContainerResizePolicy", true),
            (24, "restartPolicy", "string", false),
            (
                25,
                "restartPolicyRules",
                "k8s.io.api.core.v1.ContainerRestartRule",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerExtendedResourceRequest",
        &[
            (1, "containerName", "string", false),
            (2, "resourceName", "string", false),
            (3, "requestName", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerPort",
        &[
            (1, "name", "string", false),
            (2, "hostPort", "int32", false),
            (3, "containerPort", "int32", false),
            (4, "protocol", "string", false),
            (5, "hostIP", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerResizePolicy",
        &[
            (1, "resourceName", "string", false),
            (2, "restartPolicy", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerRestartRule",
        &[
            (1, "action", "string", false),
            (
                2,
                "exitCodes",
                "k8s.io.api.core.v1.ContainerRestartRuleOnExitCodes",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerRestartRuleOnExitCodes",
        &[(1, "operator", "string", false), (2, "values", "int32", true)],
    ),
    (
        "k8s.io.api.core.v1.ContainerState",
        &[
            (1, "waiting", "k8s.io.api.core.v1.ContainerStateWaiting", false),
            (2, "running", "k8s.io.api.core.v1.ContainerStateRunning", false),
            (3, "terminated", "k8s.io.api.core.v1.ContainerStateTerminated", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerStateRunning",
        &[(1, "startedAt", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false)],
    ),
    (
        "k8s.io.api.core.v1.ContainerStateTerminated",
        &[
            (1, "exitCode", "int32", false),
            (2, "signal", "int32", false),
            (3, "reason", "string", false),
            (4, "message", "string", false),
            (5, "startedAt", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (6, "finishedAt", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (7, "containerID", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerStateWaiting",
        &[(1, "reason", "string", false), (2, "message", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ContainerStatus",
        &[
            (1, "name", "string", false),
            (2, "state", "k8s.io.api.core.v1.ContainerState", false),
            (3, "lastState", "k8s.io.api.core.v1.ContainerState", false),
            (4, "ready", "bool", false),
            (5, "restartCount", "int32", false),
            (6, "image", "string", false),
            (7, "imageID", "string", false),
            (8, "containerID", "string", false),
            (9, "started", "bool", false),
            (
                10,
                "allocatedResources",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (11, "resources", "k8s.io.api.core.v1.ResourceRequirements", false),
            (12, "volumeMounts", "k8s.io.api.core.v1.VolumeMountStatus", true),
            (13, "user", "k8s.io.api.core.v1.ContainerUser", false),
            (
                14,
                "allocatedResourcesStatus",
                "k8s.io.api.core.v1.ResourceStatus",
                true,
            ),
            (15, "stopSignal", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ContainerUser",
        &[(1, "linux", "k8s.io.api.core.v1.LinuxContainerUser", false)],
    ),
    (
        "k8s.io.api.core.v1.DownwardAPIProjection",
        &[(1, "items", "k8s.io.api.core.v1.DownwardAPIVolumeFile", true)],
    ),
    (
        "k8s.io.api.core.v1.DownwardAPIVolumeFile",
        &[
            (1, "path", "string", false),
            (2, "fieldRef", "k8s.io.api.core.v1.ObjectFieldSelector", false),
            (3, "resourceFieldRef", "k8s.io.api.core.v1.ResourceFieldSelector", false),
            (4, "mode", "int32", false),
            (5, "user", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.DownwardAPIVolumeSource",
        &[
            (1, "items", "k8s.io.api.core.v1.DownwardAPIVolumeFile", true),
            (2, "defaultMode", "int32", false),
            (3, "defaultUser", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EmptyDirVolumeSource",
        &[
            (1, "medium", "string", false),
            (2, "sizeLimit", "k8s.io.apimachinery.pkg.api.resource.Quantity", false),
            (3, "mode", "int32", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EnvFromSource",
        &[
            (1, "prefix", "string", false),
            (2, "configMapRef", "k8s.io.api.core.v1.ConfigMapEnvSource", false),
            (3, "secretRef", "k8s.io.api.core.v1.SecretEnvSource", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EnvVar",
        &[
            (1, "name", "string", false),
            (2, "value", "string", false),
            (3, "valueFrom", "k8s.io.api.core.v1.EnvVarSource", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EnvVarSource",
        &[
            (1, "fieldRef", "k8s.io.api.core.v1.ObjectFieldSelector", false),
            (2, "resourceFieldRef", "k8s.io.api.core.v1.ResourceFieldSelector", false),
            (3, "configMapKeyRef", "k8s.io.api.core.v1.ConfigMapKeySelector", false),
            (4, "secretKeyRef", "k8s.io.api.core.v1.SecretKeySelector", false),
            (5, "fileKeyRef", "k8s.io.api.core.v1.FileKeySelector", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EphemeralContainer",
        &[
            (
                1,
                "ephemeralContainerCommon",
                "k8s.io.api.core.v1.EphemeralContainerCommon",
                false,
            ),
            (2, "targetContainerName", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.EphemeralContainerCommon",
        &[
            (1, "name", "string", false),
            (2, "image", "string", false),
            (3, "command", "string", true),
            (4, "args", "string", true),
            (5, "workingDir", "string", false),
            (6, "ports", "k8s.io.api.core.v1.ContainerPort", true),
            (7, "env", "k8s.io.api.core.v1.EnvVar", true),
            (8, "resources", "k8s.io.api.core.v1.ResourceRequirements", false),
            (9, "volumeMounts", "k8s.io.api.core.v1.VolumeMount", true),
            (10, "livenessProbe", "k8s.io.api.core.v1.Probe", false),
            (11, "readinessProbe", "k8s.io.api.core.v1.Probe", false),
            (12, "lifecycle", "k8s.io.api.core.v1.Lifecycle", false),
            (13, "terminationMessagePath", "string", false),
            (14, "imagePullPolicy", "string", false),
            (15, "securityContext", "k8s.io.api.core.v1.SecurityContext", false),
            (16, "stdin", "bool", false),
            (17, "stdinOnce", "bool", false),
            (18, "tty", "bool", false),
            (19, "envFrom", "k8s.io.api.core.v1.EnvFromSource", true),
            (20, "terminationMessagePolicy", "string", false),
            (21, "volumeDevices", "k8s.io.api.core.v1.VolumeDevice", true),
            (22, "startupProbe", "k8s.io.api.core.v1.Probe", false),
            (23, "resizePolicy", "k8s.io.api.core.v1.ContainerResizePolicy", true),
            (24, "restartPolicy", "string", false),
            (
                25,
                "restartPolicyRules",
                "k8s.io.api.core.v1.ContainerRestartRule",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.EphemeralVolumeSource",
        &[(
            1,
            "volumeClaimTemplate",
            "k8s.io.api.core.v1.PersistentVolumeClaimTemplate",
            false,
        )],
    ),
    (
        "k8s.io.api.core.v1.EvictionResponder",
        &[(1, "name", "string", false), (2, "priority", "int32", false)],
    ),
    ("k8s.io.api.core.v1.ExecAction", &[(1, "command", "string", true)]),
    (
        "k8s.io.api.core.v1.FCVolumeSource",
        &[
            (1, "targetWWNs", "string", true),
            (2, "lun", "int32", false),
            (3, "fsType", "string", false),
            (4, "readOnly", "bool", false),
            (5, "wwids", "string", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.FileKeySelector",
        &[
            (1, "volumeName", "string", false),
            (2, "path", "string", false),
            (3, "key", "string", false),
            (4, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.FlexVolumeSource",
        &[
            (1, "driver", "string", false),
            (2, "fsType", "string", false),
            (3, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
            (4, "readOnly", "bool", false),
            (5, "options", "map:string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.FlockerVolumeSource",
        &[(1, "datasetName", "string", false), (2, "datasetUUID", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.GCEPersistentDiskVolumeSource",
        &[
            (1, "pdName", "string", false),
            (2, "fsType", "string", false),
            (3, "partition", "int32", false),
            (4, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.GRPCAction",
        &[
            (1, "port", "int32", false),
            (2, "service", "string", false),
            (3, "mode", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.GitRepoVolumeSource",
        &[
            (1, "repository", "string", false),
            (2, "revision", "string", false),
            (3, "directory", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.GlusterfsVolumeSource",
        &[
            (1, "endpoints", "string", false),
            (2, "path", "string", false),
            (3, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.HTTPGetAction",
        &[
            (1, "path", "string", false),
            (2, "port", "k8s.io.apimachinery.pkg.util.intstr.IntOrString", false),
            (3, "host", "string", false),
            (4, "scheme", "string", false),
            (5, "httpHeaders", "k8s.io.api.core.v1.HTTPHeader", true),
            (6, "protocol", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.HTTPHeader",
        &[(1, "name", "string", false), (2, "value", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.HostAlias",
        &[(1, "ip", "string", false), (2, "hostnames", "string", true)],
    ),
    ("k8s.io.api.core.v1.HostIP", &[(1, "ip", "string", false)]),
    (
        "k8s.io.api.core.v1.HostPathVolumeSource",
        &[(1, "path", "string", false), (2, "type", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ISCSIVolumeSource",
        &[
            (1, "targetPortal", "string", false),
            (2, "iqn", "string", false),
            (3, "lun", "int32", false),
            (4, "iscsiInterface", "string", false),
            (5, "fsType", "string", false),
            (6, "readOnly", "bool", false),
            (7, "portals", "string", true),
            (8, "chapAuthDiscovery", "bool", false),
            (10, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
            (11, "chapAuthSession", "bool", false),
            (12, "initiatorName", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ImageVolumeSource",
        &[(1, "reference", "string", false), (2, "pullPolicy", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ImageVolumeStatus",
        &[(1, "imageRef", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.KeyToPath",
        &[
            (1, "key", "string", false),
            (2, "path", "string", false),
            (3, "mode", "int32", false),
            (4, "user", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Lifecycle",
        &[
            (1, "postStart", "k8s.io.api.core.v1.LifecycleHandler", false),
            (2, "preStop", "k8s.io.api.core.v1.LifecycleHandler", false),
            (3, "stopSignal", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.LifecycleHandler",
        &[
            (1, "exec", "k8s.io.api.core.v1.ExecAction", false),
            (2, "httpGet", "k8s.io.api.core.v1.HTTPGetAction", false),
            (3, "tcpSocket", "k8s.io.api.core.v1.TCPSocketAction", false),
            (4, "sleep", "k8s.io.api.core.v1.SleepAction", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.LinuxContainerUser",
        &[
            (1, "uid", "int64", false),
            (2, "gid", "int64", false),
            (3, "supplementalGroups", "int64", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.LocalObjectReference",
        &[(1, "name", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ModifyVolumeStatus",
        &[
            (1, "targetVolumeAttributesClassName", "string", false),
            (2, "status", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.NFSVolumeSource",
        &[
            (1, "server", "string", false),
            (2, "path", "string", false),
            (3, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Namespace",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.NamespaceSpec", false),
            (3, "status", "k8s.io.api.core.v1.NamespaceStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.NamespaceCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (
                4,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (5, "reason", "string", false),
            (6, "message", "string", false),
        ],
    ),
    ("k8s.io.api.core.v1.NamespaceSpec", &[(1, "finalizers", "string", true)]),
    (
        "k8s.io.api.core.v1.NamespaceStatus",
        &[
            (1, "phase", "string", false),
            (2, "conditions", "k8s.io.api.core.v1.NamespaceCondition", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.NodeSelector",
                false,
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.PreferredSchedulingTerm",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeAllocatableMappedResources",
        &[
            (1, "name", "string", false),
            (2, "quantity", "k8s.io.apimachinery.pkg.api.resource.Quantity", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeAllocatableOverheadResources",
        &[
            (1, "name", "string", false),
            (2, "perPod", "k8s.io.apimachinery.pkg.api.resource.Quantity", false),
            (
                3,
                "perContainer",
                "k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeAllocatableResourceClaimStatus",
        &[
            (1, "resourceClaimName", "string", false),
            (2, "containers", "string", true),
            (4, "mapping", "k8s.io.api.core.v1.NodeAllocatableMappedResources", true),
            (
                5,
                "overhead",
                "k8s.io.api.core.v1.NodeAllocatableOverheadResources",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeSelector",
        &[(1, "nodeSelectorTerms", "k8s.io.api.core.v1.NodeSelectorTerm", true)],
    ),
    (
        "k8s.io.api.core.v1.NodeSelectorRequirement",
        &[
            (1, "key", "string", false),
            (2, "operator", "string", false),
            (3, "values", "string", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.NodeSelectorTerm",
        &[
            (
                1,
                "matchExpressions",
                "k8s.io.api.core.v1.NodeSelectorRequirement",
                true,
            ),
            (2, "matchFields", "k8s.io.api.core.v1.NodeSelectorRequirement", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.ObjectFieldSelector",
        &[(1, "apiVersion", "string", false), (2, "fieldPath", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ObjectReference",
        &[
            (1, "kind", "string", false),
            (2, "namespace", "string", false),
            (3, "name", "string", false),
            (4, "uid", "string", false),
            (5, "apiVersion", "string", false),
            (6, "resourceVersion", "string", false),
            (7, "fieldPath", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaim",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.PersistentVolumeClaimSpec", false),
            (3, "status", "k8s.io.api.core.v1.PersistentVolumeClaimStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (3, "lastProbeTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (
                4,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (5, "reason", "string", false),
            (6, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimSpec",
        &[
            (1, "accessModes", "string", true),
            (2, "resources", "k8s.io.api.core.v1.VolumeResourceRequirements", false),
            (3, "volumeName", "string", false),
            (
                4,
                "selector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (5, "storageClassName", "string", false),
            (6, "volumeMode", "string", false),
            (7, "dataSource", "k8s.io.api.core.v1.TypedLocalObjectReference", false),
            (8, "dataSourceRef", "k8s.io.api.core.v1.TypedObjectReference", false),
            (9, "volumeAttributesClassName", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimStatus",
        &[
            (1, "phase", "string", false),
            (2, "accessModes", "string", true),
            (
                3,
                "capacity",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (
                4,
                "conditions",
                "k8s.io.api.core.v1.PersistentVolumeClaimCondition",
                true,
            ),
            (
                5,
                "allocatedResources",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (7, "allocatedResourceStatuses", "map:string", false),
            (8, "currentVolumeAttributesClassName", "string", false),
            (9, "modifyVolumeStatus", "k8s.io.api.core.v1.ModifyVolumeStatus", false),
            (10, "healthStatus", "k8s.io.api.core.v1.VolumeHealthStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimTemplate",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.PersistentVolumeClaimSpec", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PersistentVolumeClaimVolumeSource",
        &[(1, "claimName", "string", false), (2, "readOnly", "bool", false)],
    ),
    (
        "k8s.io.api.core.v1.PhotonPersistentDiskVolumeSource",
        &[(1, "pdID", "string", false), (2, "fsType", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.Pod",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.PodSpec", false),
            (3, "status", "k8s.io.api.core.v1.PodStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.PodAffinityTerm",
                true,
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.WeightedPodAffinityTerm",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodAffinityTerm",
        &[
            (
                1,
                "labelSelector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (2, "namespaces", "string", true),
            (3, "topologyKey", "string", false),
            (
                4,
                "namespaceSelector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (5, "matchLabelKeys", "string", true),
            (6, "mismatchLabelKeys", "string", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodAntiAffinity",
        &[
            (
                1,
                "requiredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.PodAffinityTerm",
                true,
            ),
            (
                2,
                "preferredDuringSchedulingIgnoredDuringExecution",
                "k8s.io.api.core.v1.WeightedPodAffinityTerm",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodCertificateProjection",
        &[
            (1, "signerName", "string", false),
            (2, "keyType", "string", false),
            (3, "maxExpirationSeconds", "int32", false),
            (4, "credentialBundlePath", "string", false),
            (5, "keyPath", "string", false),
            (6, "certificateChainPath", "string", false),
            (7, "userAnnotations", "map:string", false),
            (8, "user", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (3, "lastProbeTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (
                4,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (5, "reason", "string", false),
            (6, "message", "string", false),
            (7, "observedGeneration", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodDNSConfig",
        &[
            (1, "nameservers", "string", true),
            (2, "searches", "string", true),
            (3, "options", "k8s.io.api.core.v1.PodDNSConfigOption", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodDNSConfigOption",
        &[(1, "name", "string", false), (2, "value", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.PodExtendedResourceClaimStatus",
        &[
            (
                1,
                "requestMappings",
                "k8s.io.api.core.v1.ContainerExtendedResourceRequest",
                true,
            ),
            (2, "resourceClaimName", "string", false),
        ],
    ),
    ("k8s.io.api.core.v1.PodIP", &[(1, "ip", "string", false)]),
    ("k8s.io.api.core.v1.PodOS", &[(1, "name", "string", false)]),
    (
        "k8s.io.api.core.v1.PodReadinessGate",
        &[(1, "conditionType", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.PodResourceClaim",
        &[
            (1, "name", "string", false),
            (3, "resourceClaimName", "string", false),
            (4, "resourceClaimTemplateName", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodResourceClaimStatus",
        &[(1, "name", "string", false), (2, "resourceClaimName", "string", false)],
    ),
    ("k8s.io.api.core.v1.PodSchedulingGate", &[(1, "name", "string", false)]),
    (
        "k8s.io.api.core.v1.PodSchedulingGroup",
        &[(1, "podGroupName", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.PodSecurityContext",
        &[
            (1, "seLinuxOptions", "k8s.io.api.core.v1.SELinuxOptions", false),
            (2, "runAsUser", "int64", false),
            (3, "runAsNonRoot", "bool", false),
            (4, "supplementalGroups", "int64", true),
            (5, "fsGroup", "int64", false),
            (6, "runAsGroup", "int64", false),
            (7, "sysctls", "k8s.io.api.core.v1.Sysctl", true),
            (
                8,
                "windowsOptions",
                "k8s.io.api.core.v1.WindowsSecurityContextOptions",
                false,
            ),
            (9, "fsGroupChangePolicy", "string", false),
            (10, "seccompProfile", "k8s.io.api.core.v1.SeccompProfile", false),
            (11, "appArmorProfile", "k8s.io.api.core.v1.AppArmorProfile", false),
            (12, "supplementalGroupsPolicy", "string", false),
            (13, "seLinuxChangePolicy", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodSpec",
        &[
            (1, "volumes", "k8s.io.api.core.v1.Volume", true),
            (2, "containers", "k8s.io.api.core.v1.Container", true),
            (3, "restartPolicy", "string", false),
            (4, "terminationGracePeriodSeconds", "int64", false),
            (5, "activeDeadlineSeconds", "int64", false),
            (6, "dnsPolicy", "string", false),
            (7, "nodeSelector", "map:string", false),
            (8, "serviceAccountName", "string", false),
            (9, "serviceAccount", "string", false),
            (10, "nodeName", "string", false),
            (11, "hostNetwork", "bool", false),
            (12, "hostPID", "bool", false),
            (13, "hostIPC", "bool", false),
            (14, "securityContext", "k8s.io.api.core.v1.PodSecurityContext", false),
            (15, "imagePullSecrets", "k8s.io.api.core.v1.LocalObjectReference", true),
            (16, "hostname", "string", false),
            (17, "subdomain", "string", false),
            (18, "affinity", "k8s.io.api.core.v1.Affinity", false),
            (19, "schedulerName", "string", false),
            (20, "initContainers", "k8s.io.api.core.v1.Container", true),
            (21, "automountServiceAccountToken", "bool", false),
            (22, "tolerations", "k8s.io.api.core.v1.Toleration", true),
            (23, "hostAliases", "k8s.io.api.core.v1.HostAlias", true),
            (24, "priorityClassName", "string", false),
            (25, "priority", "int32", false),
            (26, "dnsConfig", "k8s.io.api.core.v1.PodDNSConfig", false),
            (27, "shareProcessNamespace", "bool", false),
            (28, "readinessGates", "k8s.io.api.core.v1.PodReadinessGate", true),
            (29, "runtimeClassName", "string", false),
            (30, "enableServiceLinks", "bool", false),
            (31, "preemptionPolicy", "string", false),
            (
                32,
                "overhead",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (
                33,
                "topologySpreadConstraints",
                "k8s.io.api.core.v1.TopologySpreadConstraint",
                true,
            ),
            (34, "ephemeralContainers", "k8s.io.api.core.v1.EphemeralContainer", true),
            (35, "setHostnameAsFQDN", "bool", false),
            (36, "os", "k8s.io.api.core.v1.PodOS", false),
            (37, "hostUsers", "bool", false),
            (38, "schedulingGates", "k8s.io.api.core.v1.PodSchedulingGate", true),
            (39, "resourceClaims", "k8s.io.api.core.v1.PodResourceClaim", true),
            (40, "resources", "k8s.io.api.core.v1.ResourceRequirements", false),
            (41, "hostnameOverride", "string", false),
            (43, "schedulingGroup", "k8s.io.api.core.v1.PodSchedulingGroup", false),
            (44, "evictionResponders", "k8s.io.api.core.v1.EvictionResponder", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodStatus",
        &[
            (1, "phase", "string", false),
            (2, "conditions", "k8s.io.api.core.v1.PodCondition", true),
            (3, "message", "string", false),
            (4, "reason", "string", false),
            (5, "hostIP", "string", false),
            (6, "podIP", "string", false),
            (7, "startTime", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (8, "containerStatuses", "k8s.io.api.core.v1.ContainerStatus", true),
            (9, "qosClass", "string", false),
            (10, "initContainerStatuses", "k8s.io.api.core.v1.ContainerStatus", true),
            (11, "nominatedNodeName", "string", false),
            (12, "podIPs", "k8s.io.api.core.v1.PodIP", true),
            (
                13,
                "ephemeralContainerStatuses",
                "k8s.io.api.core.v1.ContainerStatus",
                true,
            ),
            (14, "resize", "string", false),
            (
                15,
                "resourceClaimStatuses",
                "k8s.io.api.core.v1.PodResourceClaimStatus",
                true,
            ),
            (16, "hostIPs", "k8s.io.api.core.v1.HostIP", true),
            (17, "observedGeneration", "int64", false),
            (
                18,
                "extendedResourceClaimStatus",
                "k8s.io.api.core.v1.PodExtendedResourceClaimStatus",
                false,
            ),
            (
                19,
                "allocatedResources",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (20, "resources", "k8s.io.api.core.v1.ResourceRequirements", false),
            (
                21,
                "nodeAllocatableResourceClaimStatuses",
                "k8s.io.api.core.v1.NodeAllocatableResourceClaimStatus",
                true,
            ),
            (22, "volumeHealth", "k8s.io.api.core.v1.PodVolumeHealth", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodTemplate",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodTemplateSpec",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.PodSpec", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PodVolumeHealth",
        &[
            (1, "name", "string", false),
            (2, "healthConditions", "k8s.io.api.core.v1.VolumeHealthCondition", true),
            (
                3,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.PortworxVolumeSource",
        &[
            (1, "volumeID", "string", false),
            (2, "fsType", "string", false),
            (3, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.PreferredSchedulingTerm",
        &[
            (1, "weight", "int32", false),
            (2, "preference", "k8s.io.api.core.v1.NodeSelectorTerm", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Probe",
        &[
            (1, "handler", "k8s.io.api.core.v1.ProbeHandler", false),
            (2, "initialDelaySeconds", "int32", false),
            (3, "timeoutSeconds", "int32", false),
            (4, "periodSeconds", "int32", false),
            (5, "successThreshold", "int32", false),
            (6, "failureThreshold", "int32", false),
            (7, "terminationGracePeriodSeconds", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ProbeHandler",
        &[
            (1, "exec", "k8s.io.api.core.v1.ExecAction", false),
            (2, "httpGet", "k8s.io.api.core.v1.HTTPGetAction", false),
            (3, "tcpSocket", "k8s.io.api.core.v1.TCPSocketAction", false),
            (4, "grpc", "k8s.io.api.core.v1.GRPCAction", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ProjectedVolumeSource",
        &[
            (1, "sources", "k8s.io.api.core.v1.VolumeProjection", true),
            (2, "defaultMode", "int32", false),
            (3, "defaultUser", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.QuobyteVolumeSource",
        &[
            (1, "registry", "string", false),
            (2, "volume", "string", false),
            (3, "readOnly", "bool", false),
            (4, "user", "string", false),
            (5, "group", "string", false),
            (6, "tenant", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.RBDVolumeSource",
        &[
            (1, "monitors", "string", true),
            (2, "image", "string", false),
            (3, "fsType", "string", false),
            (4, "pool", "string", false),
            (5, "user", "string", false),
            (6, "keyring", "string", false),
            (7, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
            (8, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ReplicationController",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "spec", "k8s.io.api.core.v1.ReplicationControllerSpec", false),
            (3, "status", "k8s.io.api.core.v1.ReplicationControllerStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ReplicationControllerCondition",
        &[
            (1, "type", "string", false),
            (2, "status", "string", false),
            (
                3,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (4, "reason", "string", false),
            (5, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ReplicationControllerSpec",
        &[
            (1, "replicas", "int32", false),
            (2, "selector", "map:string", false),
            (3, "template", "k8s.io.api.core.v1.PodTemplateSpec", false),
            (4, "minReadySeconds", "int32", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ReplicationControllerStatus",
        &[
            (1, "replicas", "int32", false),
            (2, "fullyLabeledReplicas", "int32", false),
            (3, "observedGeneration", "int64", false),
            (4, "readyReplicas", "int32", false),
            (5, "availableReplicas", "int32", false),
            (
                6,
                "conditions",
                "k8s.io.api.core.v1.ReplicationControllerCondition",
                true,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.ResourceClaim",
        &[(1, "name", "string", false), (2, "request", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.ResourceFieldSelector",
        &[
            (1, "containerName", "string", false),
            (2, "resource", "string", false),
            (3, "divisor", "k8s.io.apimachinery.pkg.api.resource.Quantity", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ResourceHealth",
        &[
            (1, "resourceID", "string", false),
            (2, "health", "string", false),
            (6, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ResourceRequirements",
        &[
            (1, "limits", "map:k8s.io.apimachinery.pkg.api.resource.Quantity", false),
            (
                2,
                "requests",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
            (3, "claims", "k8s.io.api.core.v1.ResourceClaim", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.ResourceStatus",
        &[
            (1, "name", "string", false),
            (2, "resources", "k8s.io.api.core.v1.ResourceHealth", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.SELinuxOptions",
        &[
            (1, "user", "string", false),
            (2, "role", "string", false),
            (3, "type", "string", false),
            (4, "level", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ScaleIOVolumeSource",
        &[
            (1, "gateway", "string", false),
            (2, "system", "string", false),
            (3, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
            (4, "sslEnabled", "bool", false),
            (5, "protectionDomain", "string", false),
            (6, "storagePool", "string", false),
            (7, "storageMode", "string", false),
            (8, "volumeName", "string", false),
            (9, "fsType", "string", false),
            (10, "readOnly", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SeccompProfile",
        &[(1, "type", "string", false), (2, "localhostProfile", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.Secret",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "data", "map:bytes", false),
            (3, "type", "string", false),
            (4, "stringData", "map:string", false),
            (5, "immutable", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SecretEnvSource",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SecretKeySelector",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "key", "string", false),
            (3, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SecretProjection",
        &[
            (
                1,
                "localObjectReference",
                "k8s.io.api.core.v1.LocalObjectReference",
                false,
            ),
            (2, "items", "k8s.io.api.core.v1.KeyToPath", true),
            (4, "optional", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SecretVolumeSource",
        &[
            (1, "secretName", "string", false),
            (2, "items", "k8s.io.api.core.v1.KeyToPath", true),
            (3, "defaultMode", "int32", false),
            (4, "optional", "bool", false),
            (5, "defaultUser", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.SecurityContext",
        &[
            (1, "capabilities", "k8s.io.api.core.v1.Capabilities", false),
            (2, "privileged", "bool", false),
            (3, "seLinuxOptions", "k8s.io.api.core.v1.SELinuxOptions", false),
            (4, "runAsUser", "int64", false),
            (5, "runAsNonRoot", "bool", false),
            (6, "readOnlyRootFilesystem", "bool", false),
            (7, "allowPrivilegeEscalation", "bool", false),
            (8, "runAsGroup", "int64", false),
            (9, "procMount", "string", false),
            (
                10,
                "windowsOptions",
                "k8s.io.api.core.v1.WindowsSecurityContextOptions",
                false,
            ),
            (11, "seccompProfile", "k8s.io.api.core.v1.SeccompProfile", false),
            (12, "appArmorProfile", "k8s.io.api.core.v1.AppArmorProfile", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ServiceAccount",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "secrets", "k8s.io.api.core.v1.ObjectReference", true),
            (3, "imagePullSecrets", "k8s.io.api.core.v1.LocalObjectReference", true),
            (4, "automountServiceAccountToken", "bool", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.ServiceAccountTokenProjection",
        &[
            (1, "audience", "string", false),
            (2, "expirationSeconds", "int64", false),
            (3, "path", "string", false),
            (4, "user", "int64", false),
        ],
    ),
    ("k8s.io.api.core.v1.SleepAction", &[(1, "seconds", "int64", false)]),
    (
        "k8s.io.api.core.v1.StorageOSVolumeSource",
        &[
            (1, "volumeName", "string", false),
            (2, "volumeNamespace", "string", false),
            (3, "fsType", "string", false),
            (4, "readOnly", "bool", false),
            (5, "secretRef", "k8s.io.api.core.v1.LocalObjectReference", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Sysctl",
        &[(1, "name", "string", false), (2, "value", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.TCPSocketAction",
        &[
            (1, "port", "k8s.io.apimachinery.pkg.util.intstr.IntOrString", false),
            (2, "host", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Toleration",
        &[
            (1, "key", "string", false),
            (2, "operator", "string", false),
            (3, "value", "string", false),
            (4, "effect", "string", false),
            (5, "tolerationSeconds", "int64", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.TopologySpreadConstraint",
        &[
            (1, "maxSkew", "int32", false),
            (2, "topologyKey", "string", false),
            (3, "whenUnsatisfiable", "string", false),
            (
                4,
                "labelSelector",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
                false,
            ),
            (5, "minDomains", "int32", false),
            (6, "nodeAffinityPolicy", "string", false),
            (7, "nodeTaintsPolicy", "string", false),
            (8, "matchLabelKeys", "string", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.TypedLocalObjectReference",
        &[
            (1, "apiGroup", "string", false),
            (2, "kind", "string", false),
            (3, "name", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.TypedObjectReference",
        &[
            (1, "apiGroup", "string", false),
            (2, "kind", "string", false),
            (3, "name", "string", false),
            (4, "namespace", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.Volume",
        &[
            (1, "name", "string", false),
            (2, "volumeSource", "k8s.io.api.core.v1.VolumeSource", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeDevice",
        &[(1, "name", "string", false), (2, "devicePath", "string", false)],
    ),
    (
        "k8s.io.api.core.v1.VolumeHealthCondition",
        &[
            (1, "status", "string", false),
            (2, "reason", "string", false),
            (3, "message", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeHealthStatus",
        &[
            (1, "healthConditions", "k8s.io.api.core.v1.VolumeHealthCondition", true),
            (
                2,
                "lastTransitionTime",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeMount",
        &[
            (1, "name", "string", false),
            (2, "readOnly", "bool", false),
            (3, "mountPath", "string", false),
            (4, "subPath", "string", false),
            (5, "mountPropagation", "string", false),
            (6, "subPathExpr", "string", false),
            (7, "recursiveReadOnly", "string", false),
            (8, "bindMountOptions", "string", true),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeMountStatus",
        &[
            (1, "name", "string", false),
            (2, "mountPath", "string", false),
            (3, "readOnly", "bool", false),
            (4, "recursiveReadOnly", "string", false),
            (5, "volumeStatus", "k8s.io.api.core.v1.VolumeStatus", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeProjection",
        &[
            (1, "secret", "k8s.io.api.core.v1.SecretProjection", false),
            (2, "downwardAPI", "k8s.io.api.core.v1.DownwardAPIProjection", false),
            (3, "configMap", "k8s.io.api.core.v1.ConfigMapProjection", false),
            (
                4,
                "serviceAccountToken",
                "k8s.io.api.core.v1.ServiceAccountTokenProjection",
                false,
            ),
            (
                5,
                "clusterTrustBundle",
                "k8s.io.api.core.v1.ClusterTrustBundleProjection",
                false,
            ),
            (
                6,
                "podCertificate",
                "k8s.io.api.core.v1.PodCertificateProjection",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeResourceRequirements",
        &[
            (1, "limits", "map:k8s.io.apimachinery.pkg.api.resource.Quantity", false),
            (
                2,
                "requests",
                "map:k8s.io.apimachinery.pkg.api.resource.Quantity",
                false,
            ),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeSource",
        &[
            (1, "hostPath", "k8s.io.api.core.v1.HostPathVolumeSource", false),
            (2, "emptyDir", "k8s.io.api.core.v1.EmptyDirVolumeSource", false),
            (
                3,
                "gcePersistentDisk",
                "k8s.io.api.core.v1.GCEPersistentDiskVolumeSource",
                false,
            ),
            (
                4,
                "awsElasticBlockStore",
                "k8s.io.api.core.v1.AWSElasticBlockStoreVolumeSource",
                false,
            ),
            (5, "gitRepo", "k8s.io.api.core.v1.GitRepoVolumeSource", false),
            (6, "secret", "k8s.io.api.core.v1.SecretVolumeSource", false),
            (7, "nfs", "k8s.io.api.core.v1.NFSVolumeSource", false),
            (8, "iscsi", "k8s.io.api.core.v1.ISCSIVolumeSource", false),
            (9, "glusterfs", "k8s.io.api.core.v1.GlusterfsVolumeSource", false),
            (
                10,
                "persistentVolumeClaim",
                "k8s.io.api.core.v1.PersistentVolumeClaimVolumeSource",
                false,
            ),
            (11, "rbd", "k8s.io.api.core.v1.RBDVolumeSource", false),
            (12, "flexVolume", "k8s.io.api.core.v1.FlexVolumeSource", false),
            (13, "cinder", "k8s.io.api.core.v1.CinderVolumeSource", false),
            (14, "cephfs", "k8s.io.api.core.v1.CephFSVolumeSource", false),
            (15, "flocker", "k8s.io.api.core.v1.FlockerVolumeSource", false),
            (16, "downwardAPI", "k8s.io.api.core.v1.DownwardAPIVolumeSource", false),
            (17, "fc", "k8s.io.api.core.v1.FCVolumeSource", false),
            (18, "azureFile", "k8s.io.api.core.v1.AzureFileVolumeSource", false),
            (19, "configMap", "k8s.io.api.core.v1.ConfigMapVolumeSource", false),
            (
                20,
                "vsphereVolume",
                "k8s.io.api.core.v1.VsphereVirtualDiskVolumeSource",
                false,
            ),
            (21, "quobyte", "k8s.io.api.core.v1.QuobyteVolumeSource", false),
            (22, "azureDisk", "k8s.io.api.core.v1.AzureDiskVolumeSource", false),
            (
                23,
                "photonPersistentDisk",
                "k8s.io.api.core.v1.PhotonPersistentDiskVolumeSource",
                false,
            ),
            (24, "portworxVolume", "k8s.io.api.core.v1.PortworxVolumeSource", false),
            (25, "scaleIO", "k8s.io.api.core.v1.ScaleIOVolumeSource", false),
            (26, "projected", "k8s.io.api.core.v1.ProjectedVolumeSource", false),
            (27, "storageos", "k8s.io.api.core.v1.StorageOSVolumeSource", false),
            (28, "csi", "k8s.io.api.core.v1.CSIVolumeSource", false),
            (29, "ephemeral", "k8s.io.api.core.v1.EphemeralVolumeSource", false),
            (30, "image", "k8s.io.api.core.v1.ImageVolumeSource", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.VolumeStatus",
        &[(1, "image", "k8s.io.api.core.v1.ImageVolumeStatus", false)],
    ),
    (
        "k8s.io.api.core.v1.VsphereVirtualDiskVolumeSource",
        &[
            (1, "volumePath", "string", false),
            (2, "fsType", "string", false),
            (3, "storagePolicyName", "string", false),
            (4, "storagePolicyID", "string", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.WeightedPodAffinityTerm",
        &[
            (1, "weight", "int32", false),
            (2, "podAffinityTerm", "k8s.io.api.core.v1.PodAffinityTerm", false),
        ],
    ),
    (
        "k8s.io.api.core.v1.WindowsSecurityContextOptions",
        &[
            (1, "gmsaCredentialSpecName", "string", false),
            (2, "gmsaCredentialSpec", "string", false),
            (3, "runAsUserName", "string", false),
            (4, "hostProcess", "bool", false),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.AggregationRule",
        &[(
            1,
            "clusterRoleSelectors",
            "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
            true,
        )],
    ),
    (
        "k8s.io.api.rbac.v1.ClusterRole",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "rules", "k8s.io.api.rbac.v1.PolicyRule", true),
            (3, "aggregationRule", "k8s.io.api.rbac.v1.AggregationRule", false),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.ClusterRoleBinding",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "subjects", "k8s.io.api.rbac.v1.Subject", true),
            (3, "roleRef", "k8s.io.api.rbac.v1.RoleRef", false),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.PolicyRule",
        &[
            (1, "verbs", "string", true),
            (2, "apiGroups", "string", true),
            (3, "resources", "string", true),
            (4, "resourceNames", "string", true),
            (5, "nonResourceURLs", "string", true),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.Role",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "rules", "k8s.io.api.rbac.v1.PolicyRule", true),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.RoleBinding",
        &[
            (1, "metadata", "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", false),
            (2, "subjects", "k8s.io.api.rbac.v1.Subject", true),
            (3, "roleRef", "k8s.io.api.rbac.v1.RoleRef", false),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.RoleRef",
        &[
            (1, "apiGroup", "string", false),
            (2, "kind", "string", false),
            (3, "name", "string", false),
        ],
    ),
    (
        "k8s.io.api.rbac.v1.Subject",
        &[
            (1, "kind", "string", false),
            (2, "apiGroup", "string", false),
            (3, "name", "string", false),
            (4, "namespace", "string", false),
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelector",
        &[
            (1, "matchLabels", "map:string", false),
            (
                2,
                "matchExpressions",
                "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
                true,
            ),
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        &[
            (1, "key", "string", false),
            (2, "operator", "string", false),
            (3, "values", "string", true),
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
        &[
            (1, "manager", "string", false),
            (2, "operation", "string", false),
            (3, "apiVersion", "string", false),
            (4, "time", "k8s.io.apimachinery.pkg.apis.meta.v1.Time", false),
            (6, "fieldsType", "string", false),
            (7, "fieldsV1", "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1", false),
            (8, "subresource", "string", false),
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &[
            (1, "name", "string", false),
            (2, "generateName", "string", false),
            (3, "namespace", "string", false),
            (4, "selfLink", "string", false),
            (5, "uid", "string", false),
            (6, "resourceVersion", "string", false),
            (7, "generation", "int64", false),
            (
                8,
                "creationTimestamp",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (
                9,
                "deletionTimestamp",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Time",
                false,
            ),
            (10, "deletionGracePeriodSeconds", "int64", false),
            (11, "labels", "map:string", false),
            (12, "annotations", "map:string", false),
            (
                13,
                "ownerReferences",
                "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
                true,
            ),
            (14, "finalizers", "string", true),
            (
                17,
                "managedFields",
                "k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
                true,
            ),
        ],
    ),
    (
        "k8s.io.apimachinery.pkg.apis.meta.v1.OwnerReference",
        &[
            (1, "kind", "string", false),
            (3, "name", "string", false),
            (4, "uid", "string", false),
            (5, "apiVersion", "string", false),
            (6, "controller", "bool", false),
            (7, "blockOwnerDeletion", "bool", false),
        ],
    ),
];
