import ZSMVideo
