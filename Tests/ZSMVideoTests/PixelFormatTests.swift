import XCTest
import ZSMVideo
