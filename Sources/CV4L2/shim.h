// V4L2 for Swift: libv4l2, the uapi structs, and the ioctl request numbers as constants
// (Swift cannot import the function-like _IOWR macros behind VIDIOC_*), plus non-variadic
// wrappers for the variadic C calls (open, ioctl), which Swift cannot call.
#ifndef ZSM_CV4L2_SHIM_H
#define ZSM_CV4L2_SHIM_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <linux/videodev2.h>
#include <libv4l2.h>

static const unsigned long ZSM_VIDIOC_QUERYCAP = VIDIOC_QUERYCAP;
static const unsigned long ZSM_VIDIOC_ENUM_FMT = VIDIOC_ENUM_FMT;
static const unsigned long ZSM_VIDIOC_G_FMT = VIDIOC_G_FMT;
static const unsigned long ZSM_VIDIOC_S_FMT = VIDIOC_S_FMT;
static const unsigned long ZSM_VIDIOC_TRY_FMT = VIDIOC_TRY_FMT;
static const unsigned long ZSM_VIDIOC_REQBUFS = VIDIOC_REQBUFS;
static const unsigned long ZSM_VIDIOC_QUERYBUF = VIDIOC_QUERYBUF;
static const unsigned long ZSM_VIDIOC_QBUF = VIDIOC_QBUF;
static const unsigned long ZSM_VIDIOC_DQBUF = VIDIOC_DQBUF;
static const unsigned long ZSM_VIDIOC_STREAMON = VIDIOC_STREAMON;
static const unsigned long ZSM_VIDIOC_STREAMOFF = VIDIOC_STREAMOFF;
static const unsigned long ZSM_VIDIOC_G_PARM = VIDIOC_G_PARM;
static const unsigned long ZSM_VIDIOC_S_PARM = VIDIOC_S_PARM;
static const unsigned long ZSM_VIDIOC_ENUM_FRAMESIZES = VIDIOC_ENUM_FRAMESIZES;
static const unsigned long ZSM_VIDIOC_ENUM_FRAMEINTERVALS = VIDIOC_ENUM_FRAMEINTERVALS;
static const unsigned long ZSM_VIDIOC_S_CTRL = VIDIOC_S_CTRL;
static const unsigned long ZSM_VIDIOC_G_CTRL = VIDIOC_G_CTRL;
static const unsigned long ZSM_VIDIOC_QUERYCTRL = VIDIOC_QUERYCTRL;
static const unsigned long ZSM_VIDIOC_S_INPUT = VIDIOC_S_INPUT;

static const uint32_t ZSM_V4L2_PIX_FMT_YUYV = V4L2_PIX_FMT_YUYV;
static const uint32_t ZSM_V4L2_PIX_FMT_UYVY = V4L2_PIX_FMT_UYVY;
static const uint32_t ZSM_V4L2_PIX_FMT_NV12 = V4L2_PIX_FMT_NV12;
static const uint32_t ZSM_V4L2_PIX_FMT_YUV420 = V4L2_PIX_FMT_YUV420;
static const uint32_t ZSM_V4L2_PIX_FMT_GREY = V4L2_PIX_FMT_GREY;
static const uint32_t ZSM_V4L2_PIX_FMT_MJPEG = V4L2_PIX_FMT_MJPEG;
static const uint32_t ZSM_V4L2_PIX_FMT_RGB24 = V4L2_PIX_FMT_RGB24;
static const uint32_t ZSM_V4L2_PIX_FMT_XRGB32 = V4L2_PIX_FMT_XRGB32;

static inline int zsm_v4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int zsm_v4l2_ioctl(int fd, unsigned long request, void *arg) {
  return v4l2_ioctl(fd, request, arg);
}
static inline int zsm_open(const char *path, int flags, unsigned mode) { return open(path, flags, mode); }
static inline int zsm_ioctl(int fd, unsigned long request, void *arg) { return ioctl(fd, request, arg); }
static inline int zsm_errno(void) { return errno; }
static inline void zsm_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
static inline long long zsm_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static inline void zsm_sleep_ns(long long ns) {
  struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}
#endif
