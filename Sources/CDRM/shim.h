// DRM/KMS for Swift: libdrm, the uapi structs, and the ioctl request numbers as constants
// (Swift cannot import the function-like _IOWR macros behind DRM_IOCTL_*).
#ifndef ZSM_CDRM_SHIM_H
#define ZSM_CDRM_SHIM_H
#include <stdint.h>
#include <xf86drm.h>
#include <xf86drmMode.h>
#include <drm_fourcc.h>

static const unsigned long ZSM_DRM_IOCTL_VERSION = DRM_IOCTL_VERSION;
static const unsigned long ZSM_DRM_IOCTL_GET_CAP = DRM_IOCTL_GET_CAP;
static const unsigned long ZSM_DRM_IOCTL_SET_CLIENT_CAP = DRM_IOCTL_SET_CLIENT_CAP;
static const unsigned long ZSM_DRM_IOCTL_SET_MASTER = DRM_IOCTL_SET_MASTER;
static const unsigned long ZSM_DRM_IOCTL_DROP_MASTER = DRM_IOCTL_DROP_MASTER;
static const unsigned long ZSM_DRM_IOCTL_MODE_GETRESOURCES = DRM_IOCTL_MODE_GETRESOURCES;
static const unsigned long ZSM_DRM_IOCTL_MODE_GETCONNECTOR = DRM_IOCTL_MODE_GETCONNECTOR;
static const unsigned long ZSM_DRM_IOCTL_MODE_GETENCODER = DRM_IOCTL_MODE_GETENCODER;
static const unsigned long ZSM_DRM_IOCTL_MODE_GETCRTC = DRM_IOCTL_MODE_GETCRTC;
static const unsigned long ZSM_DRM_IOCTL_MODE_SETCRTC = DRM_IOCTL_MODE_SETCRTC;
static const unsigned long ZSM_DRM_IOCTL_MODE_PAGE_FLIP = DRM_IOCTL_MODE_PAGE_FLIP;
static const unsigned long ZSM_DRM_IOCTL_MODE_CREATE_DUMB = DRM_IOCTL_MODE_CREATE_DUMB;
static const unsigned long ZSM_DRM_IOCTL_MODE_MAP_DUMB = DRM_IOCTL_MODE_MAP_DUMB;
static const unsigned long ZSM_DRM_IOCTL_MODE_DESTROY_DUMB = DRM_IOCTL_MODE_DESTROY_DUMB;
static const unsigned long ZSM_DRM_IOCTL_MODE_ADDFB2 = DRM_IOCTL_MODE_ADDFB2;
static const unsigned long ZSM_DRM_IOCTL_MODE_RMFB = DRM_IOCTL_MODE_RMFB;
static const unsigned long ZSM_DRM_IOCTL_MODE_OBJ_GETPROPERTIES = DRM_IOCTL_MODE_OBJ_GETPROPERTIES;
static const unsigned long ZSM_DRM_IOCTL_MODE_GETPROPERTY = DRM_IOCTL_MODE_GETPROPERTY;
static const unsigned long ZSM_DRM_IOCTL_MODE_ATOMIC = DRM_IOCTL_MODE_ATOMIC;
static const uint32_t ZSM_DRM_FORMAT_XRGB8888 = DRM_FORMAT_XRGB8888;
static const uint32_t ZSM_DRM_MODE_CONNECTOR_WRITEBACK = 18;
static const uint64_t ZSM_DRM_CLIENT_CAP_WRITEBACK_CONNECTORS = 5;
#endif
