"""dwcp/hde"""
