"""dwcp/pba"""
