import sys
def test_x():
    print([p for p in sys.path if "work" in p]); print(__name__)
