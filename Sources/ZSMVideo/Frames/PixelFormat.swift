import ZSMKernels
