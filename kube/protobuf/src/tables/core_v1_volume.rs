//! Descriptors of the core (`v1`) volume sources: VolumeSource and PersistentVolumeSource and
//! everything they contain (configMap, secret, projected, csi, nfs, ...).
//!
//! Field numbers are those of k8s.io/api's `core/v1` protobuf definitions; the flags follow the
//! Go struct tags (see [`crate::descriptor`]).

use super::meta_v1;

message! { AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE = "AWSElasticBlockStoreVolumeSource" {
    1 "volumeID" str; 2 "fsType" str omit; 3 "partition" i32 omit; 4 "readOnly" bool omit;
}}
message! { AZURE_DISK_VOLUME_SOURCE = "AzureDiskVolumeSource" {
    1 "diskName" str; 2 "diskURI" str; 3 "cachingMode" str omit ptr; 4 "fsType" str omit ptr;
    5 "readOnly" bool omit ptr; 6 "kind" str omit ptr;
}}
message! { AZURE_FILE_PERSISTENT_VOLUME_SOURCE = "AzureFilePersistentVolumeSource" {
    1 "secretName" str; 2 "shareName" str; 3 "readOnly" bool omit; 4 "secretNamespace" str ptr;
}}
message! { AZURE_FILE_VOLUME_SOURCE = "AzureFileVolumeSource" {
    1 "secretName" str; 2 "shareName" str; 3 "readOnly" bool omit;
}}
message! { CSI_PERSISTENT_VOLUME_SOURCE = "CSIPersistentVolumeSource" {
    1 "driver" str; 2 "volumeHandle" str; 3 "readOnly" bool omit; 4 "fsType" str omit;
    5 "volumeAttributes" str map omit;
    6 "controllerPublishSecretRef" msg(SECRET_REFERENCE) omit ptr;
    7 "nodeStageSecretRef" msg(SECRET_REFERENCE) omit ptr;
    8 "nodePublishSecretRef" msg(SECRET_REFERENCE) omit ptr;
    9 "controllerExpandSecretRef" msg(SECRET_REFERENCE) omit ptr;
    10 "nodeExpandSecretRef" msg(SECRET_REFERENCE) omit ptr;
}}
message! { CSI_VOLUME_SOURCE = "CSIVolumeSource" {
    1 "driver" str; 2 "readOnly" bool omit ptr; 3 "fsType" str omit ptr;
    4 "volumeAttributes" str map omit;
    5 "nodePublishSecretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
}}
message! { CEPH_FS_PERSISTENT_VOLUME_SOURCE = "CephFSPersistentVolumeSource" {
    1 "monitors" str list; 2 "path" str omit; 3 "user" str omit; 4 "secretFile" str omit;
    5 "secretRef" msg(SECRET_REFERENCE) omit ptr; 6 "readOnly" bool omit;
}}
message! { CEPH_FS_VOLUME_SOURCE = "CephFSVolumeSource" {
    1 "monitors" str list; 2 "path" str omit; 3 "user" str omit; 4 "secretFile" str omit;
    5 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr; 6 "readOnly" bool omit;
}}
message! { CINDER_PERSISTENT_VOLUME_SOURCE = "CinderPersistentVolumeSource" {
    1 "volumeID" str; 2 "fsType" str omit; 3 "readOnly" bool omit;
    4 "secretRef" msg(SECRET_REFERENCE) omit ptr;
}}
message! { CINDER_VOLUME_SOURCE = "CinderVolumeSource" {
    1 "volumeID" str; 2 "fsType" str omit; 3 "readOnly" bool omit;
    4 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
}}
message! { CLUSTER_TRUST_BUNDLE_PROJECTION = "ClusterTrustBundleProjection" {
    1 "name" str omit ptr; 2 "signerName" str omit ptr;
    3 "labelSelector" msg(meta_v1::LABEL_SELECTOR) omit ptr; 4 "path" str;
    5 "optional" bool omit ptr;
}}
message! { CONFIG_MAP_PROJECTION = "ConfigMapProjection" {
    1 "localObjectReference" msg(LOCAL_OBJECT_REFERENCE) inline;
    2 "items" msg(KEY_TO_PATH) list omit; 4 "optional" bool omit ptr;
}}
message! { CONFIG_MAP_VOLUME_SOURCE = "ConfigMapVolumeSource" {
    1 "localObjectReference" msg(LOCAL_OBJECT_REFERENCE) inline;
    2 "items" msg(KEY_TO_PATH) list omit; 3 "defaultMode" i32 omit ptr;
    4 "optional" bool omit ptr;
}}
message! { DOWNWARD_API_PROJECTION = "DownwardAPIProjection" {
    1 "items" msg(DOWNWARD_API_VOLUME_FILE) list omit;
}}
message! { DOWNWARD_API_VOLUME_FILE = "DownwardAPIVolumeFile" {
    1 "path" str; 2 "fieldRef" msg(OBJECT_FIELD_SELECTOR) omit ptr;
    3 "resourceFieldRef" msg(RESOURCE_FIELD_SELECTOR) omit ptr; 4 "mode" i32 omit ptr;
}}
message! { DOWNWARD_API_VOLUME_SOURCE = "DownwardAPIVolumeSource" {
    1 "items" msg(DOWNWARD_API_VOLUME_FILE) list omit; 2 "defaultMode" i32 omit ptr;
}}
message! { EMPTY_DIR_VOLUME_SOURCE = "EmptyDirVolumeSource" {
    1 "medium" str omit; 2 "sizeLimit" qty omit ptr;
}}
message! { EPHEMERAL_VOLUME_SOURCE = "EphemeralVolumeSource" {
    1 "volumeClaimTemplate" msg(PERSISTENT_VOLUME_CLAIM_TEMPLATE) omit ptr;
}}
message! { FC_VOLUME_SOURCE = "FCVolumeSource" {
    1 "targetWWNs" str list omit; 2 "lun" i32 omit ptr; 3 "fsType" str omit;
    4 "readOnly" bool omit; 5 "wwids" str list omit;
}}
message! { FLEX_PERSISTENT_VOLUME_SOURCE = "FlexPersistentVolumeSource" {
    1 "driver" str; 2 "fsType" str omit; 3 "secretRef" msg(SECRET_REFERENCE) omit ptr;
    4 "readOnly" bool omit; 5 "options" str map omit;
}}
message! { FLEX_VOLUME_SOURCE = "FlexVolumeSource" {
    1 "driver" str; 2 "fsType" str omit; 3 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
    4 "readOnly" bool omit; 5 "options" str map omit;
}}
message! { FLOCKER_VOLUME_SOURCE = "FlockerVolumeSource" {
    1 "datasetName" str omit; 2 "datasetUUID" str omit;
}}
message! { GCE_PERSISTENT_DISK_VOLUME_SOURCE = "GCEPersistentDiskVolumeSource" {
    1 "pdName" str; 2 "fsType" str omit; 3 "partition" i32 omit; 4 "readOnly" bool omit;
}}
message! { GIT_REPO_VOLUME_SOURCE = "GitRepoVolumeSource" {
    1 "repository" str; 2 "revision" str omit; 3 "directory" str omit;
}}
message! { GLUSTERFS_PERSISTENT_VOLUME_SOURCE = "GlusterfsPersistentVolumeSource" {
    1 "endpoints" str; 2 "path" str; 3 "readOnly" bool omit;
    4 "endpointsNamespace" str omit ptr;
}}
message! { GLUSTERFS_VOLUME_SOURCE = "GlusterfsVolumeSource" {
    1 "endpoints" str; 2 "path" str; 3 "readOnly" bool omit;
}}
message! { HOST_PATH_VOLUME_SOURCE = "HostPathVolumeSource" {
    1 "path" str; 2 "type" str omit ptr;
}}
message! { ISCSI_PERSISTENT_VOLUME_SOURCE = "ISCSIPersistentVolumeSource" {
    1 "targetPortal" str; 2 "iqn" str; 3 "lun" i32; 4 "iscsiInterface" str omit;
    5 "fsType" str omit; 6 "readOnly" bool omit; 7 "portals" str list omit;
    8 "chapAuthDiscovery" bool omit; 10 "secretRef" msg(SECRET_REFERENCE) omit ptr;
    11 "chapAuthSession" bool omit; 12 "initiatorName" str omit ptr;
}}
message! { ISCSI_VOLUME_SOURCE = "ISCSIVolumeSource" {
    1 "targetPortal" str; 2 "iqn" str; 3 "lun" i32; 4 "iscsiInterface" str omit;
    5 "fsType" str omit; 6 "readOnly" bool omit; 7 "portals" str list omit;
    8 "chapAuthDiscovery" bool omit; 10 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
    11 "chapAuthSession" bool omit; 12 "initiatorName" str omit ptr;
}}
message! { IMAGE_VOLUME_SOURCE = "ImageVolumeSource" {
    1 "reference" str omit; 2 "pullPolicy" str omit;
}}
message! { KEY_TO_PATH = "KeyToPath" {
    1 "key" str; 2 "path" str; 3 "mode" i32 omit ptr;
}}
message! { LOCAL_OBJECT_REFERENCE = "LocalObjectReference" {
    1 "name" str omit;
}}
message! { LOCAL_VOLUME_SOURCE = "LocalVolumeSource" {
    1 "path" str; 2 "fsType" str omit ptr;
}}
message! { NFS_VOLUME_SOURCE = "NFSVolumeSource" {
    1 "server" str; 2 "path" str; 3 "readOnly" bool omit;
}}
message! { OBJECT_FIELD_SELECTOR = "ObjectFieldSelector" {
    1 "apiVersion" str omit; 2 "fieldPath" str;
}}
message! { OBJECT_REFERENCE = "ObjectReference" {
    1 "kind" str omit; 2 "namespace" str omit; 3 "name" str omit; 4 "uid" str omit;
    5 "apiVersion" str omit; 6 "resourceVersion" str omit; 7 "fieldPath" str omit;
}}
message! { PERSISTENT_VOLUME_CLAIM_SPEC = "PersistentVolumeClaimSpec" {
    1 "accessModes" str list omit; 2 "resources" msg(VOLUME_RESOURCE_REQUIREMENTS) omit;
    3 "volumeName" str omit; 4 "selector" msg(meta_v1::LABEL_SELECTOR) omit ptr;
    5 "storageClassName" str omit ptr; 6 "volumeMode" str omit ptr;
    7 "dataSource" msg(TYPED_LOCAL_OBJECT_REFERENCE) omit ptr;
    8 "dataSourceRef" msg(TYPED_OBJECT_REFERENCE) omit ptr;
    9 "volumeAttributesClassName" str omit ptr;
}}
message! { PERSISTENT_VOLUME_CLAIM_TEMPLATE = "PersistentVolumeClaimTemplate" {
    1 "metadata" msg(meta_v1::OBJECT_META) omit; 2 "spec" msg(PERSISTENT_VOLUME_CLAIM_SPEC);
}}
message! { PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE = "PersistentVolumeClaimVolumeSource" {
    1 "claimName" str; 2 "readOnly" bool omit;
}}
message! { PERSISTENT_VOLUME_SOURCE = "PersistentVolumeSource" {
    1 "gcePersistentDisk" msg(GCE_PERSISTENT_DISK_VOLUME_SOURCE) omit ptr;
    2 "awsElasticBlockStore" msg(AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE) omit ptr;
    3 "hostPath" msg(HOST_PATH_VOLUME_SOURCE) omit ptr;
    4 "glusterfs" msg(GLUSTERFS_PERSISTENT_VOLUME_SOURCE) omit ptr;
    5 "nfs" msg(NFS_VOLUME_SOURCE) omit ptr; 6 "rbd" msg(RBD_PERSISTENT_VOLUME_SOURCE) omit ptr;
    7 "iscsi" msg(ISCSI_PERSISTENT_VOLUME_SOURCE) omit ptr;
    8 "cinder" msg(CINDER_PERSISTENT_VOLUME_SOURCE) omit ptr;
    9 "cephfs" msg(CEPH_FS_PERSISTENT_VOLUME_SOURCE) omit ptr;
    10 "fc" msg(FC_VOLUME_SOURCE) omit ptr; 11 "flocker" msg(FLOCKER_VOLUME_SOURCE) omit ptr;
    12 "flexVolume" msg(FLEX_PERSISTENT_VOLUME_SOURCE) omit ptr;
    13 "azureFile" msg(AZURE_FILE_PERSISTENT_VOLUME_SOURCE) omit ptr;
    14 "vsphereVolume" msg(VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE) omit ptr;
    15 "quobyte" msg(QUOBYTE_VOLUME_SOURCE) omit ptr;
    16 "azureDisk" msg(AZURE_DISK_VOLUME_SOURCE) omit ptr;
    17 "photonPersistentDisk" msg(PHOTON_PERSISTENT_DISK_VOLUME_SOURCE) omit ptr;
    18 "portworxVolume" msg(PORTWORX_VOLUME_SOURCE) omit ptr;
    19 "scaleIO" msg(SCALE_IO_PERSISTENT_VOLUME_SOURCE) omit ptr;
    20 "local" msg(LOCAL_VOLUME_SOURCE) omit ptr;
    21 "storageos" msg(STORAGE_OS_PERSISTENT_VOLUME_SOURCE) omit ptr;
    22 "csi" msg(CSI_PERSISTENT_VOLUME_SOURCE) omit ptr;
}}
message! { PHOTON_PERSISTENT_DISK_VOLUME_SOURCE = "PhotonPersistentDiskVolumeSource" {
    1 "pdID" str; 2 "fsType" str omit;
}}
message! { POD_CERTIFICATE_PROJECTION = "PodCertificateProjection" {
    1 "signerName" str omit; 2 "keyType" str omit; 3 "maxExpirationSeconds" i32 omit ptr;
    4 "credentialBundlePath" str omit; 5 "keyPath" str omit; 6 "certificateChainPath" str omit;
    7 "userAnnotations" str map omit;
}}
message! { PORTWORX_VOLUME_SOURCE = "PortworxVolumeSource" {
    1 "volumeID" str; 2 "fsType" str omit; 3 "readOnly" bool omit;
}}
message! { PROJECTED_VOLUME_SOURCE = "ProjectedVolumeSource" {
    1 "sources" msg(VOLUME_PROJECTION) list; 2 "defaultMode" i32 omit ptr;
}}
message! { QUOBYTE_VOLUME_SOURCE = "QuobyteVolumeSource" {
    1 "registry" str; 2 "volume" str; 3 "readOnly" bool omit; 4 "user" str omit;
    5 "group" str omit; 6 "tenant" str omit;
}}
message! { RBD_PERSISTENT_VOLUME_SOURCE = "RBDPersistentVolumeSource" {
    1 "monitors" str list; 2 "image" str; 3 "fsType" str omit; 4 "pool" str omit;
    5 "user" str omit; 6 "keyring" str omit; 7 "secretRef" msg(SECRET_REFERENCE) omit ptr;
    8 "readOnly" bool omit;
}}
message! { RBD_VOLUME_SOURCE = "RBDVolumeSource" {
    1 "monitors" str list; 2 "image" str; 3 "fsType" str omit; 4 "pool" str omit;
    5 "user" str omit; 6 "keyring" str omit; 7 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
    8 "readOnly" bool omit;
}}
message! { RESOURCE_FIELD_SELECTOR = "ResourceFieldSelector" {
    1 "containerName" str omit; 2 "resource" str; 3 "divisor" qty omit;
}}
message! { SCALE_IO_PERSISTENT_VOLUME_SOURCE = "ScaleIOPersistentVolumeSource" {
    1 "gateway" str; 2 "system" str; 3 "secretRef" msg(SECRET_REFERENCE) ptr;
    4 "sslEnabled" bool omit; 5 "protectionDomain" str omit; 6 "storagePool" str omit;
    7 "storageMode" str omit; 8 "volumeName" str omit; 9 "fsType" str omit;
    10 "readOnly" bool omit;
}}
message! { SCALE_IO_VOLUME_SOURCE = "ScaleIOVolumeSource" {
    1 "gateway" str; 2 "system" str; 3 "secretRef" msg(LOCAL_OBJECT_REFERENCE) ptr;
    4 "sslEnabled" bool omit; 5 "protectionDomain" str omit; 6 "storagePool" str omit;
    7 "storageMode" str omit; 8 "volumeName" str omit; 9 "fsType" str omit;
    10 "readOnly" bool omit;
}}
message! { SECRET_PROJECTION = "SecretProjection" {
    1 "localObjectReference" msg(LOCAL_OBJECT_REFERENCE) inline;
    2 "items" msg(KEY_TO_PATH) list omit; 4 "optional" bool omit ptr;
}}
message! { SECRET_REFERENCE = "SecretReference" {
    1 "name" str omit; 2 "namespace" str omit;
}}
message! { SECRET_VOLUME_SOURCE = "SecretVolumeSource" {
    1 "secretName" str omit; 2 "items" msg(KEY_TO_PATH) list omit; 3 "defaultMode" i32 omit ptr;
    4 "optional" bool omit ptr;
}}
message! { SERVICE_ACCOUNT_TOKEN_PROJECTION = "ServiceAccountTokenProjection" {
    1 "audience" str omit; 2 "expirationSeconds" i64 omit ptr; 3 "path" str;
}}
message! { STORAGE_OS_PERSISTENT_VOLUME_SOURCE = "StorageOSPersistentVolumeSource" {
    1 "volumeName" str omit; 2 "volumeNamespace" str omit; 3 "fsType" str omit;
    4 "readOnly" bool omit; 5 "secretRef" msg(OBJECT_REFERENCE) omit ptr;
}}
message! { STORAGE_OS_VOLUME_SOURCE = "StorageOSVolumeSource" {
    1 "volumeName" str omit; 2 "volumeNamespace" str omit; 3 "fsType" str omit;
    4 "readOnly" bool omit; 5 "secretRef" msg(LOCAL_OBJECT_REFERENCE) omit ptr;
}}
message! { TYPED_LOCAL_OBJECT_REFERENCE = "TypedLocalObjectReference" {
    1 "apiGroup" str ptr; 2 "kind" str; 3 "name" str;
}}
message! { TYPED_OBJECT_REFERENCE = "TypedObjectReference" {
    1 "apiGroup" str ptr; 2 "kind" str; 3 "name" str; 4 "namespace" str omit ptr;
}}
message! { VOLUME_PROJECTION = "VolumeProjection" {
    1 "secret" msg(SECRET_PROJECTION) omit ptr;
    2 "downwardAPI" msg(DOWNWARD_API_PROJECTION) omit ptr;
    3 "configMap" msg(CONFIG_MAP_PROJECTION) omit ptr;
    4 "serviceAccountToken" msg(SERVICE_ACCOUNT_TOKEN_PROJECTION) omit ptr;
    5 "clusterTrustBundle" msg(CLUSTER_TRUST_BUNDLE_PROJECTION) omit ptr;
    6 "podCertificate" msg(POD_CERTIFICATE_PROJECTION) omit ptr;
}}
message! { VOLUME_RESOURCE_REQUIREMENTS = "VolumeResourceRequirements" {
    1 "limits" qty map omit; 2 "requests" qty map omit;
}}
message! { VOLUME_SOURCE = "VolumeSource" {
    1 "hostPath" msg(HOST_PATH_VOLUME_SOURCE) omit ptr;
    2 "emptyDir" msg(EMPTY_DIR_VOLUME_SOURCE) omit ptr;
    3 "gcePersistentDisk" msg(GCE_PERSISTENT_DISK_VOLUME_SOURCE) omit ptr;
    4 "awsElasticBlockStore" msg(AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE) omit ptr;
    5 "gitRepo" msg(GIT_REPO_VOLUME_SOURCE) omit ptr;
    6 "secret" msg(SECRET_VOLUME_SOURCE) omit ptr; 7 "nfs" msg(NFS_VOLUME_SOURCE) omit ptr;
    8 "iscsi" msg(ISCSI_VOLUME_SOURCE) omit ptr;
    9 "glusterfs" msg(GLUSTERFS_VOLUME_SOURCE) omit ptr;
    10 "persistentVolumeClaim" msg(PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE) omit ptr;
    11 "rbd" msg(RBD_VOLUME_SOURCE) omit ptr; 12 "flexVolume" msg(FLEX_VOLUME_SOURCE) omit ptr;
    13 "cinder" msg(CINDER_VOLUME_SOURCE) omit ptr;
    14 "cephfs" msg(CEPH_FS_VOLUME_SOURCE) omit ptr;
    15 "flocker" msg(FLOCKER_VOLUME_SOURCE) omit ptr;
    16 "downwardAPI" msg(DOWNWARD_API_VOLUME_SOURCE) omit ptr;
    17 "fc" msg(FC_VOLUME_SOURCE) omit ptr;
    18 "azureFile" msg(AZURE_FILE_VOLUME_SOURCE) omit ptr;
    19 "configMap" msg(CONFIG_MAP_VOLUME_SOURCE) omit ptr;
    20 "vsphereVolume" msg(VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE) omit ptr;
    21 "quobyte" msg(QUOBYTE_VOLUME_SOURCE) omit ptr;
    22 "azureDisk" msg(AZURE_DISK_VOLUME_SOURCE) omit ptr;
    23 "photonPersistentDisk" msg(PHOTON_PERSISTENT_DISK_VOLUME_SOURCE) omit ptr;
    24 "portworxVolume" msg(PORTWORX_VOLUME_SOURCE) omit ptr;
    25 "scaleIO" msg(SCALE_IO_VOLUME_SOURCE) omit ptr;
    26 "projected" msg(PROJECTED_VOLUME_SOURCE) omit ptr;
    27 "storageos" msg(STORAGE_OS_VOLUME_SOURCE) omit ptr;
    28 "csi" msg(CSI_VOLUME_SOURCE) omit ptr;
    29 "ephemeral" msg(EPHEMERAL_VOLUME_SOURCE) omit ptr;
    30 "image" msg(IMAGE_VOLUME_SOURCE) omit ptr;
}}
message! { VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE = "VsphereVirtualDiskVolumeSource" {
    1 "volumePath" str; 2 "fsType" str omit; 3 "storagePolicyName" str omit;
    4 "storagePolicyID" str omit;
}}
